"""Prompt and response content: which fields hold it, and how it is kept out of storage.

One list serves every format (OTel GenAI, current and deprecated; OpenInference;
OpenLLMetry; Langfuse; native): a field whose name fully matches `CONTENT_KEY_REGEX`
holds content. Unless `keep_content` is set, its value is never stored: accepted rows keep
`<key>.chars` (length) and `<key>.sha256` instead (equal contents stay comparable), and a
quarantined record's raw copy has the value replaced by the same summary.
"""

from __future__ import annotations

import hashlib
import json
import re

CONTENT_KEY_PATTERNS = (
    # OTel GenAI semantic conventions (current)
    r"gen_ai\.(input|output)\.messages",
    r"gen_ai\.system_instructions",
    r"gen_ai\.tool\.call\.(arguments|result)",
    # deprecated OTel GenAI / OpenLLMetry: gen_ai.prompt, gen_ai.prompt.0.content, …
    r'gen_ai\.(prompt|completion)(\.[^"]+)?',
    r'llm\.prompts(\.[^"]+)?',
    r'llm\.completions(\.[^"]+)?',
    # OpenInference
    r"(input|output)\.value",
    r'llm\.(input|output)_messages(\.[^"]+)?',
    r'llm\.prompt_template\.(template|variables)(\.[^"]+)?',
    r'(retrieval|reranker\.(input|output))\.documents\.[^"]+\.document\.content',
    r'embedding\.embeddings\.[^"]+\.embedding\.text',
    r"tool\.parameters",
    # Langfuse export fields (record fields, and as `langfuse.<field>` attributes)
    r"(langfuse\.)?(input|output|metadata|model_parameters|status_message|comment)",
)
CONTENT_KEY_REGEX = "(" + "|".join(f"(?:{p})" for p in CONTENT_KEY_PATTERNS) + ")"
_CONTENT_KEY = re.compile(CONTENT_KEY_REGEX)


def is_content_key(key: str) -> bool:
    return _CONTENT_KEY.fullmatch(key) is not None


def summary_entries_sql(key: str, value: str) -> str:
    """SQL list of the map entries {k, v} that stand for a content value: its length
    and hash. `key` and `value` are SQL expressions."""
    return (
        f"[{{k: {key} || '.chars', v: cast(length({value}) as varchar)}}, "
        f"{{k: {key} || '.sha256', v: sha256({value})}}]"
    )


def redacted_entries_sql(entries: str, *, keep_content: bool) -> str:
    """SQL list of the entries {k, v} of `entries` (a SQL list of structs {key, value},
    e.g. `map_entries(m)`), in order, with every content entry replaced by its summary
    entries. (Its keys may repeat: a summary named like another entry.)"""
    if keep_content:
        kept = "lambda e: [{k: e.key, v: e.value}]"
    else:
        summary = summary_entries_sql("e.key", "e.value")
        kept = (
            f"lambda e: case when regexp_full_match(e.key, '{CONTENT_KEY_REGEX}') "
            f"then {summary} else [{{k: e.key, v: e.value}}] end"
        )
    return f"flatten(list_transform({entries}, {kept}))"


def redacted_map_sql(entries: str, *, keep_content: bool) -> str:
    """SQL map(varchar, varchar) of `redacted_entries_sql`: an error when a key repeats."""
    return f"map_from_entries({redacted_entries_sql(entries, keep_content=keep_content)})"


def summary(value: object) -> str:
    """What stands for a content value in a quarantined record's raw copy."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"[content removed: {len(text)} chars, sha256 {digest}]"


def redact_raw(raw: str) -> str:
    """A quarantined record's raw text with every content value replaced by its summary.

    JSON (the usual case, also JSON nested in a string field such as a CSV `attributes`
    cell) is walked structurally, including OTLP's `{"key": …, "value": {…}}` attribute
    form. Text that is not JSON (a truncated or corrupt line) is scrubbed by pattern:
    every string after a content key is replaced, to the end of the text if unterminated.
    """
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python reads
        return _scrub_text(raw)
    redacted = _redact(document)
    return raw if redacted == document else json.dumps(redacted, ensure_ascii=False)


def _redact(node: object) -> object:
    if isinstance(node, dict):
        if isinstance(node.get("key"), str) and is_content_key(node["key"]) and "value" in node:
            return {**node, "value": summary(node["value"])}
        return {
            key: summary(value) if is_content_key(key) else _redact(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_redact(item) for item in node]
    if isinstance(node, str) and node[:1] in ("{", "["):
        try:
            inner = json.loads(node)
        except (ValueError, RecursionError):
            return _scrub_text(node)
        redacted = _redact(inner)
        return node if redacted == inner else json.dumps(redacted, ensure_ascii=False)
    return node


_STRING = r'"(?:[^"\\]|\\.)*(?:"|\\?$)'
_SCRUB = re.compile(
    # "gen_ai.prompt": "…"   or   "key": "gen_ai.prompt", "value": {"stringValue": "…"
    rf'(?P<plain>"{CONTENT_KEY_REGEX}"\s*:\s*(?:\{{\s*"\w+"\s*:\s*)?){_STRING}'
    rf'|(?P<kv>"key"\s*:\s*"{CONTENT_KEY_REGEX}"\s*,\s*"value"\s*:\s*\{{\s*"\w+"\s*:\s*){_STRING}'
    # a content value that is an object or a list: its end cannot be told, the rest goes
    rf'|(?P<rest>"{CONTENT_KEY_REGEX}"\s*:\s*)[\[{{].*',
    re.DOTALL,
)


def _scrub_text(text: str) -> str:
    """Best effort for text that does not parse: replace each string value that follows a
    content key (plain `"key": "…"` or OTLP's key/value form); after a content key whose
    value is an object or a list, replace the rest of the text."""

    def replace(match: re.Match) -> str:
        prefix = next(match[g] for g in ("plain", "kv", "rest") if match[g] is not None)
        return prefix + json.dumps(summary(match.group(0)[len(prefix) :].strip('"')))

    return _SCRUB.sub(replace, text)
