"""redis-py, unchanged, against a ringkv RESP port: python3 redis_py.py HOST PORT.

Run by tests/resp.rs (`redis_py_client`) with the Debian package python3-redis
(redis-py 4.x), which .ci/run installs. Exits non-zero at the first failed check.
"""

import sys
import threading

import redis

host, port = sys.argv[1], int(sys.argv[2])
r = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=10)
rb = redis.Redis(host=host, port=port, socket_timeout=10)


def error_of(f):
    try:
        f()
    except redis.ResponseError as e:
        return str(e)
    raise AssertionError("expected an error reply")


assert r.ping() is True
assert r.echo("hi") == "hi"
assert r.execute_command("SELECT", 0) is True
assert r.client_setname("py") is True
assert r.client_getname() == "py"

# Strings: SET's flags, the read-modify-writes, counters.
assert r.set("a", "1") is True
assert r.get("a") == "1"
assert r.set("a", "2", nx=True) is None
assert r.set("a", "3", xx=True, get=True) == "1"
assert r.set("fresh", "v", xx=True) is None
assert r.setnx("c", "x") is True
assert r.setnx("c", "y") is False
assert r.getset("c", "y") == "x"
assert r.getdel("c") == "y"
assert r.get("c") is None
assert r.incr("n") == 1
assert r.incrby("n", 41) == 42
assert r.decr("n") == 41
assert r.decrby("n", 40) == 1
assert r.append("s", "abc") == 3
assert r.append("s", "de") == 5
assert r.strlen("s") == 5
assert "not an integer" in error_of(lambda: r.incr("s"))
assert r.type("s") == "string"
assert r.type("nothing") == "none"
assert r.ttl("s") == -1
assert r.ttl("nothing") == -2

# Several keys at once.
assert r.mset({"k1": "v1", "k2": "v2", "k3": "v3"}) is True
assert r.mget(["k1", "nope", "k3", "k1"]) == ["v1", None, "v3", "v1"]
assert r.exists("k1", "k2", "nope", "k1") == 3
assert r.delete("k1", "nope") == 1
assert r.unlink("k2") == 1
assert r.exists("k1", "k2") == 0

# Binary-safe keys and values, and a large value.
assert rb.set(b"\x00\xff\r\n", b"\x01\x02\r\n\x00") is True
assert rb.get(b"\x00\xff\r\n") == b"\x01\x02\r\n\x00"
big = bytes(range(256)) * 4096
assert rb.set("big", big) is True
assert rb.get("big") == big

# Keyspace: DBSIZE, KEYS, SCAN cursors through redis-py's scan_iter.
expected = {"a", "n", "s", "k3", "\x00\xff\r\n", "big"}
assert r.dbsize() == len(expected), r.dbsize()
assert set(rb.keys("*")) == {k.encode("latin-1") for k in expected}
for i in range(300):
    r.set(f"scan:{i}", i)
assert sorted(r.scan_iter(match="scan:*", count=17)) == sorted(f"scan:{i}" for i in range(300))
assert r.dbsize() == len(expected) + 300

# Server introspection that tools probe.
info = r.info()
assert info["redis_version"].startswith("7"), info
assert info["db0"]["keys"] == len(expected) + 300, info
assert int(info["used_memory"]) > 0, info
assert r.info("keyspace")["db0"]["keys"] == len(expected) + 300
assert "maxmemory" in r.config_get("maxmemory")

# Clear errors, and the connection stays usable after each.
assert "unknown command" in error_of(lambda: r.execute_command("NOSUCHCMD", "x"))
assert "wrong number of arguments" in error_of(lambda: r.execute_command("GET"))
assert "not supported" in error_of(lambda: r.set("e", "v", ex=10))
assert "not supported" in error_of(lambda: r.expire("a", 10))
assert r.get("a") == "3"

# A pipeline (no transaction): 1,000 commands, answered in order.
p = r.pipeline(transaction=False)
for i in range(500):
    p.set(f"p{i}", f"v{i}")
for i in range(500):
    p.get(f"p{i}")
res = p.execute()
assert res[:500] == [True] * 500
assert res[500:] == [f"v{i}" for i in range(500)]

# MULTI/EXEC is not offered: a clear error, not a silent non-transaction.
t = r.pipeline(transaction=True)
t.set("tx", "1")
assert error_of(t.execute)


# Threads sharing one connection pool, each with its own counter and keys.
def worker(w, errors):
    try:
        for i in range(200):
            r.set(f"w{w}:{i}", i)
            r.incr(f"count:{w}")
        assert r.mget([f"w{w}:{i}" for i in range(200)]) == [str(i) for i in range(200)]
    except Exception as e:  # reported by the main thread
        errors.append(repr(e))


errors = []
threads = [threading.Thread(target=worker, args=(w, errors)) for w in range(8)]
for th in threads:
    th.start()
for th in threads:
    th.join(30)
assert not errors, errors
assert r.mget([f"count:{w}" for w in range(8)]) == ["200"] * 8

assert r.flushdb() is True
assert r.dbsize() == 0
assert r.get("a") is None
print("redis-py", redis.__version__, "ok")
