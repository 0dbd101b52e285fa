"""The OpenAI Batch API, run by the gateway itself (docs/batch.md).

`/v1/files` takes a JSONL input file, `/v1/batches` a batch over it; every worker's runner
(`runner.py`) claims chunks of the batch's lines through Lua scripts (gateway/state/batches.py)
and runs each line through the pipeline in process, as the batch's owner at low priority, so
routing, fallbacks, budgets, pace and rate limits apply and each line is charged like a request.
"""
