"""as_taskq_client builds its decoding twin from the original pool's own
settings: checked here for pools that need no server to be built (SSL,
Sentinel); the integration tests run the engine through twins."""

from __future__ import annotations

import ssl

import redis
from redis.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedSSLConnection

from taskq.connection import as_taskq_client


def test_ssl_settings_carry_over():
    plain = redis.Redis.from_url("rediss://:secret@cache.example:6380/2",
                                 ssl_cert_reqs="required", ssl_ca_certs="/etc/ca.pem")
    twin = as_taskq_client(plain)
    pool = twin.connection_pool
    assert pool.connection_class is redis.SSLConnection
    kw = pool.connection_kwargs
    assert (kw["host"], kw["port"], kw["db"], kw["password"]) == ("cache.example", 6380, 2, "secret")
    assert kw["ssl_cert_reqs"] == "required" and kw["ssl_ca_certs"] == "/etc/ca.pem"
    assert kw["decode_responses"] is True
    assert "decode_responses" not in plain.connection_pool.connection_kwargs  # theirs untouched
    conn = pool.make_connection()
    assert conn.cert_reqs == ssl.CERT_REQUIRED and conn.ca_certs == "/etc/ca.pem"


def test_resp3_twin_keeps_the_protocol_and_its_reply_callbacks():
    twin = as_taskq_client(redis.Redis(protocol=3))
    assert twin.connection_pool.connection_kwargs["protocol"] == 3
    resp3 = redis.Redis(protocol=3, decode_responses=True).response_callbacks
    assert dict(twin.response_callbacks) == dict(resp3)
    assert dict(twin.response_callbacks) != dict(redis.Redis(decode_responses=True).response_callbacks)


def test_sentinel_twin_asks_the_same_sentinels_for_the_same_service():
    sentinel = Sentinel([("sentinel.example", 26379)], socket_timeout=0.1)
    plain = sentinel.master_for("mymaster", ssl=True, db=4)
    pool = as_taskq_client(plain).connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "mymaster" and pool.sentinel_manager is sentinel
    assert pool.is_master and pool.connection_class is SentinelManagedSSLConnection
    assert pool.connection_kwargs["db"] == 4 and pool.connection_kwargs["decode_responses"] is True
    # its connections resolve the master through the twin's pool, not the original's
    assert pool.connection_kwargs["connection_pool"] is pool.proxy


def test_blocking_pool_limits_carry_over():
    original = redis.BlockingConnectionPool(max_connections=3, timeout=1.5)
    pool = as_taskq_client(redis.Redis(connection_pool=original)).connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (3, 1.5)
