"""Guardrails: find personal data and credentials in a request's prompt, then redact, block or count.

In process and dependency free: `detectors.py` holds the detectors (precompiled regexes, with the
Luhn and mod-97 checks that tell a card number or an IBAN from any other run of digits),
`scan.py` walks a canonical request (and a client's own-format copy of it) and applies one
policy. The pipeline calls it between the parse and the classifier (docs/guardrails.md), so the
classifier, the cache key and the provider all see the redacted text.
"""
