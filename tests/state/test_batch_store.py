"""lua/file_put.lua and lua/batch_*.lua, the Batch API's shared state: on fakeredis and on the
real engine, against their reference model (gateway/state/reference_batch.py), and the rules a
batch keeps: each line one result, a dead worker's chunk claimed again, cancel and expiry."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.state.batches import BatchState, Claim, NoClaim
from gateway.state.reference_batch import BatchStoreModel
from gateway.state.store import StateStore
from gateway.state.values import as_text

HOUR_MS = 3_600_000
DAY_S = 86_400
OWNER = "cfg:demo"


async def upload(b: BatchState, owner: str = OWNER, data: bytes = b"{}\n") -> str:
    file_id = "file-" + uuid.uuid4().hex[:12]
    stored, reason, _ = await b.put_file(file_id, owner, "in.jsonl", data, data.count(b"\n"), HOUR_MS, 1 << 20)
    assert (stored, reason) == (True, "")
    return file_id


async def new_batch(b: BatchState, n: int, window_s: int = DAY_S, owner: str = OWNER) -> str:
    batch_id = "batch_" + uuid.uuid4().hex[:12]
    created, status = await b.create(batch_id, owner, "/v1/chat/completions", await upload(b, owner), window_s,
                                     HOUR_MS, {"run": "t"}, None, [f'{{"i":{i}}}'.encode() for i in range(n)])
    assert (created, status) == (True, "validating")
    return batch_id


async def run_chunk(b: BatchState, claim: Claim, ok: bool = True) -> str:
    status = ""
    for pos, (i, line) in enumerate(claim.lines):
        _, status, _ = await b.record(claim.batch_id, i, ok, b'{"out":%d}' % i, claim.chunk,
                                   pos == len(claim.lines) - 1, HOUR_MS)
    return status


async def test_files_are_kept_under_their_cap_and_read_back(backend):
    b = BatchState(await backend.store())
    file_id = await upload(b, data=b'{"a":1}\n{"a":2}\n')
    rec = await b.file(file_id)
    assert (rec.owner, rec.purpose, rec.bytes, rec.lines) == (OWNER, "batch", 16, 2)
    assert rec.expires_us - rec.created_us == HOUR_MS * 1000
    assert await b.file_data(file_id) == b'{"a":1}\n{"a":2}\n'
    assert (await b.put_file("file-big", OWNER, "x", b"x" * 2000, 1, HOUR_MS, 1024))[:2] == (False, "too_large")
    assert await b.file("file-big") is None
    assert (await b.put_file(file_id, OWNER, "x", b"y", 1, HOUR_MS, 1024))[:2] == (False, "exists")


async def test_a_batch_runs_in_chunks_to_completed_with_one_result_per_line(backend3):
    b = BatchState(await backend3.store())
    batch_id = await new_batch(b, 5)
    assert batch_id in await b.active()
    first = await b.claim(batch_id, 2, HOUR_MS)
    assert isinstance(first, Claim) and first.chunk == "0:2" and first.owner == OWNER and first.started
    assert [i for i, _ in first.lines] == [0, 1] and first.lines[1][1] == b'{"i":1}'
    assert (await b.batch(batch_id)).status == "in_progress"
    second = await b.claim(batch_id, 2, HOUR_MS)
    third = await b.claim(batch_id, 2, HOUR_MS)
    assert (second.chunk, third.chunk, second.started) == ("2:4", "4:5", False)
    assert await b.claim(batch_id, 2, HOUR_MS) == NoClaim("wait")   # all handed out, leases held
    assert await run_chunk(b, first) == "in_progress"
    assert await b.record(batch_id, 0, True, b"again", first.chunk) == (False, "in_progress", False)  # kept once
    await run_chunk(b, third, ok=False)
    assert await run_chunk(b, second) == "completed"
    assert (await b.record(batch_id, 2, True, b"late"))[1:] == ("completed", False)  # ended before this
    rec = await b.batch(batch_id)
    assert (rec.status, rec.total, rec.n_ok, rec.n_err, rec.n_left) == ("completed", 5, 4, 1, 0)
    assert rec.bytes_ok == sum(len(b'{"out":%d}' % i) + 1 for i in range(4))
    assert {"in_progress", "finalizing", "completed"} <= set(rec.times) and rec.metadata == {"run": "t"}
    assert batch_id not in await b.active()
    results = await b.results(batch_id, with_inputs=False)
    assert sorted(results.ok) == [0, 1, 2, 3] and results.err == {4: b'{"out":4}'}
    assert await b.claim(batch_id, 2, HOUR_MS) == NoClaim("completed")


async def test_a_dead_workers_chunk_is_claimed_again_with_its_lines_left(backend):
    b = BatchState(await backend.store())
    batch_id = await new_batch(b, 3)
    dead = await b.claim(batch_id, 3, 30)
    await b.record(batch_id, 0, True, b"done-before-dying", dead.chunk, False, 30)
    await asyncio.sleep(0.08)  # its lease runs out
    again = await b.claim(batch_id, 3, HOUR_MS)
    assert again.chunk == dead.chunk and [i for i, _ in again.lines] == [1, 2]
    assert await run_chunk(b, again) == "completed"
    # the first worker's late result of a line is not counted again
    assert (await b.record(batch_id, 1, False, b"late", dead.chunk, True, 30))[0] is False
    rec = await b.batch(batch_id)
    assert (rec.n_ok, rec.n_err) == (3, 0)
    assert (await b.results(batch_id, False)).ok[0] == b"done-before-dying"


async def test_cancel_waits_for_lines_in_flight_then_ends_cancelled(backend):
    b = BatchState(await backend.store())
    batch_id = await new_batch(b, 6)
    running = await b.claim(batch_id, 2, HOUR_MS)
    assert await b.cancel(batch_id, "cfg:other") is None             # not theirs
    assert await b.cancel(batch_id, OWNER) == ("cancelling", True)
    assert await b.claim(batch_id, 2, HOUR_MS) == NoClaim("cancelling")  # nothing more handed out
    assert await run_chunk(b, running) == "cancelled"                # in-flight lines finish and count
    rec = await b.batch(batch_id)
    assert (rec.status, rec.n_ok, rec.n_left) == ("cancelled", 2, 4)
    assert {"cancelling", "cancelled"} <= set(rec.times)
    assert len((await b.results(batch_id, with_inputs=True)).inputs) == 6  # kept for the error file
    assert await b.cancel(batch_id, OWNER) == ("cancelled", False)   # an ended batch stays as it is
    idle = await new_batch(b, 2)
    assert await b.cancel(idle, OWNER) == ("cancelled", True)        # nothing in flight: at once


async def test_past_its_window_a_batch_expires_with_the_lines_left(backend):
    b = BatchState(await backend.store())
    batch_id = await new_batch(b, 4, window_s=1)
    chunk = await b.claim(batch_id, 1, HOUR_MS)
    await asyncio.sleep(1.05)
    assert await b.claim(batch_id, 1, HOUR_MS) == NoClaim("in_progress")  # one chunk still running
    assert await run_chunk(b, chunk) == "expired"
    rec = await b.batch(batch_id)
    assert (rec.status, rec.n_ok, rec.n_left) == ("expired", 1, 3) and "expired" in rec.times
    assert batch_id not in await b.active()


async def test_an_invalid_file_makes_a_failed_batch_and_another_owners_file_none(backend):
    b = BatchState(await backend.store())
    file_id = await upload(b)
    errors = [{"code": "invalid_json_line", "line": 1, "message": "x", "param": None}]
    assert await b.create("batch_bad", OWNER, "/v1/embeddings", file_id, DAY_S, HOUR_MS, None, errors, []) \
        == (True, "failed")
    rec = await b.batch("batch_bad")
    assert rec.errors == errors and "failed" in rec.times and "batch_bad" not in await b.active()
    assert await b.create("batch_x", "cfg:other", "/v1/embeddings", file_id, DAY_S, HOUR_MS, None, None,
                          [b"{}"]) == (False, "no_file")
    assert await b.batch("batch_x") is None


async def test_lists_are_per_owner_newest_first(backend):
    b = BatchState(await backend.store())
    mine = [await new_batch(b, 1) for _ in range(3)]
    theirs = await new_batch(b, 1, owner="rt:key_other")
    ids, more = await b.batch_ids(OWNER, None, 2)
    assert ids == mine[::-1][:2] and more
    assert await b.batch_ids(OWNER, ids[-1], 2) == ([mine[0]], False)
    assert (await b.batch_ids(None, None, 10))[0][0] == theirs


async def test_bad_arguments_are_refused_before_any_write(backend):
    store = await backend.store()
    keys = store.keys.batch("b1")
    with pytest.raises(Exception, match="kind"):
        await store.scripts.call("batch_record", keys, ["b1", "0", "maybe", "x", "-", "0", "10"])
    create = [*keys, store.keys.batches(), store.keys.owner_batches("o"), store.keys.file("f")]
    with pytest.raises(Exception, match="lines"):  # a valid batch of no line
        await store.scripts.call("batch_create", create, ["b1", "o", "/v1/embeddings", "f", "10", "10", "", "", "0"])
    with pytest.raises(Exception, match="arguments"):  # lines are staged, never passed to create
        await store.scripts.call("batch_create", create, ["b1", "o", "/v1/embeddings", "f", "10", "10", "", "", "1",
                                                          "a line"])
    assert await store.client.exists(*keys[:5]) == 0


async def test_lines_are_staged_in_chunks_and_checked_by_create(backend, monkeypatch):
    """lua/batch_stage.lua: a batch's lines come in short calls; create refuses a batch whose
    lines did not all arrive (and drops what did), and staging stops once the batch exists."""
    import gateway.state.batches as batches
    monkeypatch.setattr(batches, "STAGE_LINES", 2)  # five lines: three calls
    b = BatchState(await backend.store())
    batch_id = await new_batch(b, 5)
    claim = await b.claim(batch_id, 10, HOUR_MS)
    assert isinstance(claim, Claim) and [i for i, _ in claim.lines] == [0, 1, 2, 3, 4]
    assert [line for _, line in claim.lines] == [b'{"i":%d}' % i for i in range(5)]
    keys = b.keys.batch(batch_id)
    stored, staged = await b.scripts.call("batch_stage", keys[:2], ["5", "60000", "late"])
    assert (int(stored), int(staged)) == (0, 5)  # the batch exists: its lines are only read
    other = "batch_" + uuid.uuid4().hex[:12]
    await b.scripts.call("batch_stage", b.keys.batch(other)[:2], ["0", "60000", "one of two"])
    create = [*b.keys.batch(other), b.keys.batches(), b.keys.owner_batches(OWNER), b.keys.file(await upload(b))]
    created, reason, _ = await b.scripts.call("batch_create", create, [other, OWNER, "/v1/chat/completions", "f",
                                                                       "10", "10", "", "", "2"])
    assert (int(created), as_text(reason)) == (0, "unstaged")
    assert await b.client.exists(*b.keys.batch(other)[:2]) == 0


OPS = st.lists(st.tuples(st.sampled_from(["claim", "claim", "record", "record", "record", "cancel", "pause"]),
                         st.integers(0, 1), st.integers(1, 3), st.booleans()), min_size=1, max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS, sizes=st.tuples(st.integers(1, 6), st.integers(1, 6)))
def test_engine_matches_the_model(redis_url, ops, sizes):
    """Random claims (leases of 30 ms or an hour), results of the lines claimed (some twice),
    cancels and pauses on two batches give the same answers on the engine and on the model."""

    async def go() -> None:
        store = await StateStore.connect(redis_url, prefix="bs" + uuid.uuid4().hex[:8], timeout_s=2.0)
        b, model = BatchState(store), BatchStoreModel()
        claimed: list[tuple[str, Claim]] = []
        try:
            ids = []
            for n in sizes:
                batch_id, lines = "batch_" + uuid.uuid4().hex[:8], [f'{{"i":{i}}}' for i in range(n)]
                file_id = await upload(b)
                assert await b.create(batch_id, OWNER, "/v1/embeddings", file_id, DAY_S, HOUR_MS, None, None,
                                      [x.encode() for x in lines]) == (True, "validating")
                created_us = (await b.batch(batch_id)).created_us
                assert model.create(batch_id, OWNER, OWNER, "/v1/embeddings", DAY_S, False, lines, created_us)[0] == 1
                ids.append(batch_id)
            for op, which, most, flag in ops:
                batch_id = ids[which]
                if op == "pause":
                    await asyncio.sleep(0.04)
                elif op == "claim":
                    lease = 30 if flag else HOUR_MS
                    reply = await store.scripts.call("batch_claim", store.keys.batch(batch_id),
                                                     [batch_id, str(most), str(lease)])
                    now = int(reply[4] if reply[0] == b"run" else reply[1])
                    want = model.claim(batch_id, most, lease, now)
                    got = raw_claim(reply)
                    assert got == want, (op, batch_id)
                    if want[0] == "run":
                        claimed.append((batch_id, Claim(batch_id, want[1], OWNER, "", want[5])))
                elif op == "record" and claimed:
                    bid, c = claimed[most % len(claimed)]
                    index = c.lines[(most + len(claimed)) % len(c.lines)][0]
                    line, last = f"r{index}", index == c.lines[-1][0]
                    reply = await store.scripts.call("batch_record", store.keys.batch(bid),
                                                     [bid, str(index), "ok" if flag else "err", line, c.chunk,
                                                      "1" if last else "0", str(HOUR_MS)])
                    want = model.record(bid, index, flag, line, c.chunk, last, HOUR_MS, int(reply[2]))
                    assert (int(reply[0]), reply[1].decode(), int(reply[3])) == want, (op, bid, index)
                elif op == "cancel":
                    found, status, now, changed = await store.scripts.call("batch_cancel", store.keys.batch(batch_id),
                                                                           [batch_id, OWNER])
                    assert (int(found), status.decode(), int(changed)) == model.cancel(batch_id, OWNER, int(now))
            for batch_id in ids:
                rec = await b.batch(batch_id)
                m = model.batches[batch_id]
                assert (rec.status, rec.n_ok, rec.n_err, rec.n_left) == (m.status, len(m.ok), len(m.err), m.n_left)
                assert set(rec.times) == set(m.times)
        finally:
            await store.close()

    asyncio.run(go())


def raw_claim(reply: list) -> tuple:
    """A raw batch_claim reply in the model's shape."""
    head = reply[0].decode()
    if head != "run":
        return (head, int(reply[2]))
    rest = reply[6:]
    lines = tuple((int(rest[i]), rest[i + 1].decode()) for i in range(0, len(rest), 2))
    return ("run", reply[1].decode(), reply[2].decode(), reply[3].decode(), int(reply[5]), lines)
