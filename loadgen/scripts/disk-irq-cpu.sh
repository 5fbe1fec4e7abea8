#!/usr/bin/env bash
# Print the CPU that takes most of the completion interrupts of the block device
# holding DIR (nothing if that cannot be told, e.g. on an overlay or tmpfs).
#
# Why: on a disk with one hardware queue (virtio-blk in most VMs) every
# completion interrupt lands on one CPU, and an O_DSYNC write's cache flush is
# issued from a kworker on that CPU. A `--sync always` shard placed there
# (`ringkv serve --cpus N`) does not wait for that CPU to be free
# (tuning/README.md, "Which CPUs the shards run on").
#
# Usage: loadgen/scripts/disk-irq-cpu.sh DIR
set -euo pipefail
DIR=${1:?usage: disk-irq-cpu.sh DIR}
mkdir -p "$DIR"
src=$(df --output=source "$DIR" 2>/dev/null | tail -1)
[[ $src == /dev/* ]] || exit 0
dev=$(basename "$src")
parent=$(lsblk -no pkname "$src" 2>/dev/null | head -1 || true)
disk=${parent:-$dev}
[[ -e /sys/block/$disk/device ]] || exit 0
# virtio-blk names its interrupts after the virtio device (virtio1-req.0), NVMe after the controller (nvme0q1).
name=$(basename "$(readlink -f "/sys/block/$disk/device")")
awk -v name="$name" '
  NR == 1 { for (i = 1; i <= NF; i++) { id[i] = substr($i, 4) } ncpu = NF; next }
  index($0, name "-") || index($0, name "q") {
    for (i = 1; i <= ncpu; i++) sum[i] += $(i + 1)
    found = 1
  }
  END {
    if (!found) exit
    best = 1
    for (i = 2; i <= ncpu; i++) if (sum[i] > sum[best]) best = i
    if (sum[best] > 0) print id[best]
  }' /proc/interrupts
