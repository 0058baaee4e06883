"""Finesse authentication: Basic parsing, the 30-minute cache, AWDB failover policy, single flight."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from emu_base.clock import LoopClock, ManualClock
from emu_base.timers import Timers
from finesse_emu.server.auth import (
    Authenticator,
    AuthError,
    AuthReason,
    AuthUser,
    AwdbFailover,
    CredentialCache,
    parse_basic,
)
from finesse_emu.server.auth.awdb_client import AwdbTimeout, AwdbUnavailable, BadCredentials
from finesse_emu.server.auth.failover import Outcome

ALICE = AuthUser(id="1000", login="agent0001", extension="2000")
PASSWORDS = {"1000": "pass1000", "agent0001": "pass1000"}


class FakeAwdb:
    """Answers like the AWDB stub; ``mode`` switches it between up, down and hanging."""

    def __init__(self) -> None:
        self.mode = "up"
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.answering: Callable[[], object] | None = None  # called as it answers a good password

    async def authenticate(self, user: str, password: str) -> AuthUser:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.mode == "down":
            raise AwdbUnavailable("both refused")
        if self.mode == "timeout":
            raise AwdbTimeout("awdb-a did not answer")
        if PASSWORDS.get(user) != password:
            raise BadCredentials(user)
        if self.answering is not None:
            self.answering()
        return ALICE


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_parse_basic() -> None:
    assert parse_basic(basic("agent0001", "p:w")) == ("agent0001", "p:w")
    assert parse_basic("basic " + base64.b64encode(b"1000:").decode()) == ("1000", "")
    no_colon = "Basic " + base64.b64encode(b"nocolon").decode()
    no_user = "Basic " + base64.b64encode(b":pw").decode()
    for bad in (None, "", "Bearer abc", "Basic", "Basic !!!", no_colon, no_user, "Basic " + "A" * 2000):
        assert parse_basic(bad) is None, bad


def test_cache_expires_exactly_after_the_ttl_and_is_not_extended_by_hits() -> None:
    cache = CredentialCache(ttl=1800)
    cache.put("agent0001", "pass1000", ALICE, now=100)
    assert cache.get("agent0001", "pass1000", 100 + 1799.999) == ALICE
    assert cache.get("1000", "pass1000", 1000) == ALICE  # id and login share the entry
    assert cache.get("AGENT0001", "pass1000", 1000) == ALICE
    assert cache.get("agent0001", "pass1000", 1900) is None  # 30 min after the request, hits or not
    assert cache.hits == 3 and cache.misses == 1


def test_cache_never_matches_another_password() -> None:
    cache = CredentialCache(ttl=1800)
    cache.put("1000", "old-secret", ALICE, now=0)
    assert cache.get("1000", "new-secret", 1) is None
    cache.put("1000", "new-secret", ALICE, now=2)  # the AWDB accepted the new password
    assert cache.get("1000", "old-secret", 3) is None
    assert cache.get("1000", "new-secret", 3) == ALICE


def test_cache_purge_keeps_memory_flat() -> None:
    cache = CredentialCache(ttl=10)
    for i in range(100):
        cache.put(str(i), "pw", AuthUser(id=str(i), login=f"l{i}"), now=i)
    assert cache.purge(now=60) == 51
    assert len(cache) == 49 and cache.get("l99", "pw", 60) is not None and cache.get("l10", "pw", 60) is None


def test_failover_policy() -> None:
    f = AwdbFailover(["awdb-a", "awdb-b"])
    assert f.plan() == [0, 1]
    assert f.record(0, Outcome.REFUSED) is True  # refused: the same request tries the other
    assert f.record(1, Outcome.OK) is False
    assert f.current_name == "awdb-b" and f.plan() == [1, 0]
    assert f.record(1, Outcome.TIMEOUT) is False  # timeout: this request fails, the next one switches
    assert f.plan() == [0, 1]
    assert f.record(0, Outcome.REFUSED) is True and f.record(1, Outcome.REFUSED) is True
    single = AwdbFailover(["awdb-a"])
    assert single.plan() == [0] and single.record(0, Outcome.TIMEOUT) is False and single.plan() == [0]
    with pytest.raises(ValueError, match="at most one secondary"):
        AwdbFailover(["a", "b", "c"])


def make_auth(clock: ManualClock | None = None) -> tuple[Authenticator, FakeAwdb, ManualClock]:
    clock = clock or ManualClock(start=1000.0)
    fake = FakeAwdb()
    return Authenticator(fake, Timers.build(1.0), clock), fake, clock


async def test_cache_hit_while_both_awdbs_are_down_then_401_after_30_minutes() -> None:
    auth, fake, clock = make_auth()
    assert await auth.authenticate("agent0001", "pass1000") == ALICE
    fake.mode = "down"
    clock.advance(1799.0)
    assert await auth.authenticate("1000", "pass1000") == ALICE
    assert fake.calls == 1
    clock.advance(1.0)  # 30 minutes from the time of the request: reauthenticate against the AWDB
    with pytest.raises(AuthError) as err:
        await auth.authenticate("1000", "pass1000")
    assert err.value.reason is AuthReason.AWDB_UNAVAILABLE and err.value.awdb_down
    assert fake.calls == 2


async def test_timeout_maps_to_its_own_reason() -> None:
    auth, fake, _ = make_auth()
    fake.mode = "timeout"
    with pytest.raises(AuthError) as err:
        await auth.authenticate("1000", "pass1000")
    assert err.value.reason is AuthReason.AWDB_TIMEOUT


async def test_wrong_password_is_never_cached_as_success() -> None:
    auth, fake, _ = make_auth()
    for _ in range(2):
        with pytest.raises(AuthError) as err:
            await auth.authenticate("1000", "wrong")
        assert err.value.reason is AuthReason.BAD_CREDENTIALS
    assert fake.calls == 2
    await auth.authenticate("1000", "pass1000")
    with pytest.raises(AuthError):
        await auth.authenticate("1000", "wrong")  # a good entry does not vouch for another secret
    assert fake.calls == 4


async def test_concurrent_requests_during_failover_make_one_awdb_query() -> None:
    auth, fake, _ = make_auth()
    fake.gate = asyncio.Event()
    waiters = [asyncio.create_task(auth.authenticate("agent0001", "pass1000")) for _ in range(50)]
    await asyncio.sleep(0)
    fake.gate.set()
    assert await asyncio.gather(*waiters) == [ALICE] * 50
    assert fake.calls == 1 and auth.awdb_lookups == 1
    fake.gate = asyncio.Event()
    fake.mode = "down"
    auth.cache.invalidate("1000")
    failing = [asyncio.create_task(auth.authenticate("1000", "pass1000")) for _ in range(20)]
    await asyncio.sleep(0)
    fake.gate.set()
    results = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(r, AuthError) and r.reason is AuthReason.AWDB_UNAVAILABLE for r in results)
    assert fake.calls == 2


async def test_the_awdb_success_is_reported_before_any_hit_on_the_entry_it_filled() -> None:
    """A request served from the entry the AWDB just filled, while the request that asked has not yet
    resumed, must not be reported first: the run's history would show a cache hit with no AWDB success
    before it (the checker's 30-minute cache rule reads that order)."""
    auth, fake, _ = make_auth()
    reported: list[tuple[str, bool, str]] = []
    auth.on_result = lambda user, ok, via, _reason: reported.append((user, ok, via))
    others: list[asyncio.Task[AuthUser]] = []
    # Scheduled as the AWDB answers: the other request runs after the fill, before the asker resumes.
    fake.answering = lambda: asyncio.get_running_loop().call_soon(
        lambda: others.append(asyncio.ensure_future(auth.authenticate("1000", "pass1000")))
    )
    assert await auth.authenticate("agent0001", "pass1000") == ALICE
    assert await others[0] == ALICE
    assert reported == [("agent0001", True, "awdb"), ("1000", True, "cache")]


async def test_five_bad_passwords_lock_the_account_for_five_minutes() -> None:
    auth, fake, clock = make_auth()
    for _ in range(5):
        with pytest.raises(AuthError):
            await auth.authenticate("agent0001", "nope")
    with pytest.raises(AuthError) as err:
        await auth.authenticate("agent0001", "pass1000")
    assert err.value.reason is AuthReason.LOCKED_OUT
    assert fake.calls == 5  # locked out without asking the AWDB
    clock.advance(300)
    assert await auth.authenticate("agent0001", "pass1000") == ALICE


async def test_lockout_counts_per_agent_whatever_alias_is_typed() -> None:
    """Issue 14: "1023" was locked while "agent0024" and "AGENT0024" still answered."""
    clock = ManualClock(start=1000.0)
    fake = FakeAwdb()
    aliases = {"1000": "1000", "agent0001": "1000"}
    auth = Authenticator(fake, Timers.build(1.0), clock, resolve=lambda name: aliases.get(name.lower()))
    typed = ["1000", "agent0001", "AGENT0001", "Agent0001", "1000"]
    for name in typed:
        with pytest.raises(AuthError) as err:
            await auth.authenticate(name, "nope")
        assert err.value.reason is AuthReason.BAD_CREDENTIALS
    for name in {*typed, "aGeNt0001"}:
        with pytest.raises(AuthError) as err:
            await auth.authenticate(name, "pass1000")
        assert err.value.reason is AuthReason.LOCKED_OUT, name
    assert fake.calls == 5
    clock.advance(300)
    assert await auth.authenticate("agent0001", "pass1000") == ALICE


async def test_unknown_names_are_counted_under_themselves() -> None:
    auth, fake, _clock = make_auth()  # no directory: nothing resolves
    for name in ("nobody", "NOBODY", "Nobody", "nobody", "noBody"):
        with pytest.raises(AuthError):
            await auth.authenticate(name, "guess")
    with pytest.raises(AuthError) as err:
        await auth.authenticate("NoBoDy", "guess")
    assert err.value.reason is AuthReason.LOCKED_OUT and fake.calls == 5
    with pytest.raises(AuthError) as err:  # another unknown name has its own count
        await auth.authenticate("somebody", "guess")
    assert err.value.reason is AuthReason.BAD_CREDENTIALS


async def test_without_a_directory_the_aliases_a_success_showed_count_together() -> None:
    auth, _fake, _ = make_auth()
    assert await auth.authenticate("agent0001", "pass1000") == ALICE  # the cache learns 1000's aliases
    for name in ("1000", "AGENT0001", "1000", "agent0001", "Agent0001"):
        with pytest.raises(AuthError):
            await auth.authenticate(name, "nope")
    with pytest.raises(AuthError) as err:
        await auth.authenticate("1000", "pass1000")
    assert err.value.reason is AuthReason.LOCKED_OUT


async def test_a_success_starts_the_count_again_for_every_alias() -> None:
    auth, _fake, _clock = make_auth()
    aliases = {"1000": "1000", "agent0001": "1000"}
    auth.resolve = lambda name: aliases.get(name.lower())
    for name in ("1000", "agent0001", "AGENT0001", "1000"):
        with pytest.raises(AuthError):
            await auth.authenticate(name, "nope")
    assert await auth.authenticate("agent0001", "pass1000") == ALICE
    auth.cache.invalidate("1000")
    for name in ("1000", "agent0001", "AGENT0001", "1000"):
        with pytest.raises(AuthError) as err:
            await auth.authenticate(name, "nope")
        assert err.value.reason is AuthReason.BAD_CREDENTIALS


@pytest.mark.looptime
async def test_expiry_on_the_virtual_clock() -> None:
    fake = FakeAwdb()
    auth = Authenticator(fake, Timers.build(1.0), LoopClock())
    await auth.authenticate("1000", "pass1000")
    fake.mode = "down"
    await asyncio.sleep(29 * 60)  # virtual: returns at once
    assert await auth.authenticate("1000", "pass1000") == ALICE
    await asyncio.sleep(60)
    with pytest.raises(AuthError):
        await auth.authenticate("1000", "pass1000")


# -- finesse.credential_cache: a node's own cache lifetime ---------------------------------------------


def test_a_nodes_credential_cache_lifetime_is_configurable_in_emulated_seconds() -> None:
    from finesse_emu.deployment.launcher import node_options
    from finesse_emu.server.node import FinesseNode, NodeConfig

    def config(cache: float | None = None) -> NodeConfig:
        cti = [("A", "127.0.0.1", 42027)]
        return NodeConfig(cti_sides=cti, awdb_urls=["http://127.0.0.1:1434"], credential_cache=cache)

    # Cisco's 30 minutes by default, scaled like every timer; a configured lifetime is scaled alike.
    default = FinesseNode(config(), Timers.build(0.02))
    assert default.timers.awdb_credential_cache == pytest.approx(36.0)
    node = FinesseNode(config(120), Timers.build(0.02, awdb_request_timeout=1.0))
    assert node.timers.awdb_credential_cache == pytest.approx(2.4)
    assert node.authenticator.cache.ttl == pytest.approx(2.4)
    assert node.timers.unscaled("awdb_credential_cache") == pytest.approx(120.0)
    assert node.timers.awdb_request_timeout == pytest.approx(0.02)  # the other timers as given
    for bad in (0, -5, True, "120"):
        with pytest.raises(ValueError, match="credential_cache"):
            NodeConfig(credential_cache=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="credential_cache"):
            node_options({"credential_cache": bad}, "deployment.yaml")
    assert node_options({"credential_cache": 90}, "deployment.yaml") == {"credential_cache": 90}


def test_the_cache_digest_is_the_keyed_hmac_of_the_password() -> None:
    """The keyed HMAC is copied per digest (cheaper than keying it again): the same bytes as
    hmac.new with the key, for every password, one after another."""
    key = b"k" * 32
    cache = CredentialCache(1800.0, key)
    for password in ("pass1000", "", "pässwörd", "pass1000"):
        expected = hmac.new(key, password.encode("utf-8"), hashlib.sha256).digest()
        assert cache.digest(password) == expected
