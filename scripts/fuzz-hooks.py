"""schemathesis hooks for scripts/fuzz (loaded through `hooks` in scripts/fuzz.toml).

They change requests to POST /api/locations, and drop one kind of failure, only where the tool on
its own would report the api's documented behaviour as a finding, would hide a fault behind
another, or would never reach a documented answer. schemathesis checks each request as finally
sent: it classifies a changed request again as allowed or forbidden by the document.
"""

import ast
import itertools
import os
import re
import threading
import uuid

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import schemathesis

# 0. Not a hook. CPython keeps the AST constructor's recursion counter in shared interpreter
#    state, so `ast.parse` in two threads at once can fail with "SystemError: AST constructor
#    recursion depth mismatch" (python/cpython#106905; seen here on 3.11.7). Hypothesis parses
#    source files to describe lambdas, and schemathesis's workers are threads: with
#    FUZZ_WORKERS > 1 a run could end in a spurious "Runtime Error". One parse at a time.
_parse = ast.parse
_parse_lock = threading.Lock()


def _serialized_parse(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _serialized_parse

_VALID_KEY = re.compile(r"[\x21-\x7E]{1,255}")

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz.toml"), "rb") as _file:
    _DICTIONARIES = tomllib.load(_file)["dictionaries"]
_EDGE_VALUES = {
    "name": set(_DICTIONARIES["names"]["values"]),
    "description": set(_DICTIONARIES["descriptions"]["values"]),
}

_posts = itertools.count()


@schemathesis.hook
def before_call(context, case, kwargs):
    operation = case.operation
    if operation.method.upper() != "POST" or operation.path != "/api/locations":
        return
    headers = case.headers  # a case-insensitive dict, never None

    # 1. An Idempotency-Key is state, not just a string: the api answers 422 to a key already
    #    used with another body (the document's 422 says so). Hypothesis draws the same few keys
    #    over and over ("0", "00", ...), so a valid request would be reported as "schema-valid
    #    request rejected". Each key the document allows is made unique (a fresh UUID as its
    #    tail, still 1-255 visible ASCII characters); a key it forbids is sent unchanged, so the
    #    api's 400 for it is still tested.
    for name in list(headers):
        if name.lower() == "idempotency-key":
            key = headers[name]
            if isinstance(key, str) and _VALID_KEY.fullmatch(key):
                headers[name] = (key + "." + uuid.uuid4().hex)[-255:]

    # 2. A forbidden request is drawn with several faults at once, so an api that ignores one of
    #    them still answers 4xx for another, and the fault goes unseen. When a case's name or
    #    description is one of the edge values of the fuzz dictionaries (scripts/fuzz.toml), that
    #    field is kept and everything else is made valid: the answer is about that value alone.
    body = case.body
    if isinstance(body, dict):
        for field in ("name", "description"):
            value = body.get(field)
            if isinstance(value, str) and value in _EDGE_VALUES[field]:
                isolated = {field: value, "category": "City"}
                if field == "description":
                    isolated["name"] = "edge " + uuid.uuid4().hex
                body.clear()
                body.update(isolated)
                for name in list(headers):
                    if name.lower() not in ("content-type", "prefer"):
                        del headers[name]
                # The report names the draw's original fault; say what is sent instead.
                data = case.meta.phase.data if case.meta is not None else None
                if data is not None and type(data).__name__ != "CoveragePhaseData":
                    data.description = f"`{field}` = {value!r} in body, all else valid (isolated by scripts/fuzz-hooks.py)"
                    data.parameter = None
                    data.parameter_location = None
                    data.mutations = ()
                break

    # 3. `Prefer` is a free string in the document, and a random one is ignored (RFC 7240), so on
    #    its own the fuzzer would never make the api wait and never see the answers only a wait
    #    gives: 201 with Location and Preference-Applied, and the 409 of a duplicate name. Every
    #    third POST /api/locations asks for `Prefer: wait=5`, a value the document allows.
    if next(_posts) % 3 == 0:
        headers["Prefer"] = "wait=5"


# 4. ensure_resource_availability reads "POST answered 2xx, then GET of the new resource answered
#    404" as a lost resource. A 202 only accepts the command; the reactor writes the location a
#    moment later (CQRS, README "How it works"), so a 404 right after a 202 is the design. After a
#    201 (`Prefer: wait`, completed) the location must be readable at once (DESIGN "read your
#    writes"): the check's failures are kept for those locations only.
_completed = set()
_completed_lock = threading.Lock()


@schemathesis.hook
def after_call(context, case, response):
    operation = case.operation
    if operation.method.upper() == "POST" and operation.path == "/api/locations" and response.status_code == 201:
        for location in response.headers.get("location", []):
            with _completed_lock:
                _completed.add(location.rstrip("/").rsplit("/", 1)[-1])


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if type(failure).__name__ != "EnsureResourceAvailability":
        return True
    resource_id = str((case.path_parameters or {}).get("id", ""))
    with _completed_lock:
        return resource_id in _completed
