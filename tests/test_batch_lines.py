"""The Batch API's pieces without a server: the input file's checks, the output lines, the
multipart reader of uploads, and the objects' ids and counts."""

from __future__ import annotations

import orjson
import pytest

from gateway.batch.lines import answered, check_file, line_id, not_run
from gateway.batch.multipart import parse_form
from gateway.batch.objects import batch_object, result_file_of
from gateway.errors import GatewayError
from gateway.state.batches import BatchRecord

CHAT = "/v1/chat/completions"


def line(custom_id: str, url: str = CHAT, **over: object) -> bytes:
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": {"model": "auto"}, **over})


def test_a_good_file_becomes_compact_lines_and_blank_lines_are_skipped() -> None:
    data = line("a") + b"\r\n\n  \n" + line("b") + b"\n"
    checked = check_file(data, CHAT, 10)
    assert checked.errors == []
    assert [orjson.loads(x)["custom_id"] for x in checked.lines] == ["a", "b"]


@pytest.mark.parametrize("bad, code, param", [
    (b"{not json", "invalid_json_line", None),
    (b"[1, 2]", "invalid_json_line", None),
    (line(""), "invalid_request", "custom_id"),
    (line("a"), "duplicate_custom_id", "custom_id"),
    (line("x", method="GET"), "invalid_request", "method"),
    (line("x", url="/v1/embeddings"), "invalid_url", "url"),
    (line("x", body="text"), "invalid_request", "body"),
])
def test_each_bad_line_is_named_with_its_number(bad: bytes, code: str, param: str | None) -> None:
    checked = check_file(line("a") + b"\n\n" + bad + b"\n", CHAT, 10)
    assert checked.lines == []
    assert [(e["code"], e["line"], e["param"]) for e in checked.errors] == [(code, 3, param)]


def test_too_many_lines_and_an_empty_file_fail() -> None:
    assert [e["code"] for e in check_file(b"".join(line(f"l{i}") + b"\n" for i in range(4)), CHAT, 3).errors] == \
        ["too_many_requests"]
    assert [e["code"] for e in check_file(b"\n \n", CHAT, 3).errors] == ["empty_file"]


def test_output_lines_have_openais_shape() -> None:
    ok = orjson.loads(answered("batch_abc", 7, "c7", 200, "req_1", b'{"id":"x"}'))
    assert ok == {"id": "batch_req_abc_7", "custom_id": "c7", "error": None,
                  "response": {"status_code": 200, "request_id": "req_1", "body": {"id": "x"}}}
    skipped = orjson.loads(not_run("batch_abc", 2, "c2", "batch_expired", "late"))
    assert skipped["response"] is None and skipped["error"] == {"code": "batch_expired", "message": "late"}
    assert line_id("batch_abc", 2) == skipped["id"]


def test_result_files_name_their_batch_and_counts_add_up() -> None:
    assert result_file_of("file-out-abc") == ("batch_abc", "ok")
    assert result_file_of("file-err-abc") == ("batch_abc", "err")
    assert result_file_of("file-abc") is None
    rec = BatchRecord(id="batch_abc", owner="cfg:demo", endpoint=CHAT, input_file_id="file-1", status="cancelled",
                      created_us=1_000_000_000, expires_us=87_400_000_000, total=5, n_ok=2, n_err=1, n_left=2,
                      bytes_ok=0, bytes_err=0, times={"cancelled": 2_000_000_000})
    obj = batch_object(rec)
    assert obj["request_counts"] == {"total": 5, "completed": 2, "failed": 3}
    assert (obj["output_file_id"], obj["error_file_id"]) == ("file-out-abc", "file-err-abc")
    assert (obj["created_at"], obj["cancelled_at"], obj["completed_at"]) == (1000, 2000, None)
    running = batch_object(BatchRecord(**{**{f: getattr(rec, f) for f in rec.__slots__}, "status": "in_progress"}))
    assert running["output_file_id"] is None and running["error_file_id"] is None  # only once it has ended


def test_multipart_uploads_are_read_and_malformed_ones_refused() -> None:
    body = (b'--b1\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            b'--b1\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + line("a") + b"\n\r\n--b1--\r\n")
    parts = parse_form(body, "multipart/form-data; boundary=b1")
    assert parts["purpose"].data == b"batch" and parts["file"].filename == "in.jsonl"
    assert parts["file"].data == line("a") + b"\n"
    for bad_body, content_type in ((body, "application/json"), (body[:-8], "multipart/form-data; boundary=b1"),
                                   (b"--b1\r\nno headers--b1--", "multipart/form-data; boundary=b1")):
        with pytest.raises(GatewayError) as err:
            parse_form(bad_body, content_type)
        assert err.value.status == 400
