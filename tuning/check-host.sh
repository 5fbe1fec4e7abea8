#!/usr/bin/env bash
# Print what this host offers ringkv. Usage: tuning/check-host.sh [DATA_DIR]
set -u
dir=${1:-./ringkv-data}
echo "kernel:          $(uname -r)"
echo "cpus:            $(nproc)"
echo "memlock limit:   $(ulimit -l) KiB (2 MiB per shard needed: see tuning/README.md)"
if [ -r /proc/sys/kernel/io_uring_disabled ]; then
    echo "io_uring_disabled: $(cat /proc/sys/kernel/io_uring_disabled) (must be 0)"
fi
mkdir -p "$dir" 2>/dev/null
echo "data dir fs:     $(stat -f -c %T "$dir" 2>/dev/null || echo unknown) ($dir; tmpfs cannot do O_DIRECT)"
dev=$(df --output=source "$dir" 2>/dev/null | tail -1)
base=$(basename "$dev" 2>/dev/null)
for q in /sys/block/"$base"/queue /sys/block/"${base%[0-9]*}"/queue; do
    if [ -d "$q" ]; then
        echo "disk queue:      $q io_poll=$(cat "$q"/io_poll 2>/dev/null) write_cache=$(cat "$q"/write_cache 2>/dev/null) rotational=$(cat "$q"/rotational 2>/dev/null)"
        break
    fi
done
