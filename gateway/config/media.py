"""The media kinds' models (`kind: transcription | speech | image | moderation`): their prices in
their own units, and the checks that each sits on a wire format with that endpoint.

    whisper-1:   {provider: openai, kind: transcription, price: {per_minute: 0.006}}
    tts-1:       {provider: openai, kind: speech, price: {per_million_chars: 15}}
    dall-e-3:    {provider: openai, kind: image,
                  price: {per_image: {standard/1024x1024: 0.04, hd/1024x1024: 0.08, 1024x1792: 0.12}}}
    omni-moderation-latest: {provider: openai, kind: moderation}        # free

A transcription model billed in tokens (gpt-4o-transcribe reports `usage` in tokens, not
seconds) takes `input` and `output` per million tokens as well, and its `per_minute` bounds the
reservation. An image's price is looked up by "quality/size", then "size", then "quality", then
"" (a flat price, also written `per_image: 0.04`); a request matching none is charged the
dearest, so a short price list never under-counts.
"""

from __future__ import annotations

from typing import Any

from gateway.config.model import MEDIA_FORMATS, MEDIA_KINDS, MEDIA_ROUTES, Deployment, Price, Route, no_media
from gateway.config.reader import Reader, usd_to_micro

MEDIA_FIELDS = {"per_minute", "per_million_chars", "per_image", "per_request"}
# the fields each media kind takes (besides `per_request`), and the one it must have unless
# `per_request` is given (a moderation model may be free)
KIND_FIELDS = {"transcription": ({"per_minute", "input", "output"}, "per_minute"),
               "speech": ({"per_million_chars"}, "per_million_chars"),
               "image": ({"per_image"}, "per_image"),
               "moderation": (set(), None)}


def parse_media_price(r: Reader, doc: dict[str, Any], path: str, kind: str) -> Price:
    """A media model's `price` (its mapping's fields were checked against every price field)."""
    takes, needed = KIND_FIELDS[kind]
    for name in doc:
        if name not in takes and name != "per_request":
            raise r.fail(f"{path}.{name}", name, f"a {kind} model's price takes "
                                                 f"{sorted(takes | {'per_request'})}")
    if needed and needed not in doc and "input" not in doc and "per_request" not in doc:
        raise r.fail(f"{path}.{needed}", None, f"a {kind} model needs its price in `{needed}` (or `per_request`)")
    if kind == "transcription" and "input" in doc and "per_minute" not in doc:
        raise r.fail(f"{path}.per_minute", None, "a token-priced transcription model needs `per_minute` as "
                                                 "well: it bounds the reservation before the audio's length is known")

    def micro(name: str) -> int:
        return usd_to_micro(r.number(doc, name, path, 0.0))

    return Price(input=micro("input"), output=micro("output"), cached_input=micro("input"),
                 per_minute=micro("per_minute"), per_million_chars=micro("per_million_chars"),
                 per_image=_per_image(r, doc.get("per_image"), f"{path}.per_image"), per_request=micro("per_request"))


def _per_image(r: Reader, value: Any, path: str) -> tuple[tuple[str, int], ...]:
    if value is None:
        return ()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (("", usd_to_micro(r.number({"v": value}, "v", path))),)
    prices = r.mapping(value, path)
    if not prices:
        raise r.fail(path, value, "expected a price, or a mapping of quality/size to prices")
    return tuple((str(k), usd_to_micro(r.number(prices, k, path))) for k in prices)


def check_media(r: Reader, deployments: dict[str, Deployment], routes: dict[str, Route]) -> None:
    """Each media model on a format that has its endpoint; each media route of its kind only."""
    for name, dep in deployments.items():
        if dep.kind in MEDIA_KINDS and dep.kind not in MEDIA_FORMATS.get(dep.provider.format, ()):
            raise r.fail(f"models.{name}.kind", dep.kind, no_media(dep.provider.format, dep.kind))
    for kind, route_name in MEDIA_ROUTES.items():
        route = routes.get(route_name)
        if route is None:
            continue
        for model in {m for chain in (route.default, *route.tasks.values()) for m in chain.models}:
            if deployments[model].kind != kind:
                raise r.fail(f"routes.{route_name}", model, f"the `{route_name}` route (what `auto` means on the "
                                                            f"{kind} endpoint) names a {deployments[model].kind} model")
