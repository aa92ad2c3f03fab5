"""
JSON for the verist fuzzer: generation, mutation, and JavaScript's view of it.

Values are Python trees whose leaves keep their exact JSON text where the text
matters (Num), objects are lists of pairs so a key can repeat (Obj), and Raw
splices arbitrary, possibly invalid, text.  dump() writes a tree as JSON text
with randomised escapes and whitespace, the way different clients would.

js_verdict() and js_stringify_canonical() are the oracle for
verist_canonical_json: what JSON.parse followed by the adapter's
canonicalisation (rebuild every object with Object.keys(o).sort(), then
JSON.stringify) prints.  They are written from the ECMAScript rules, not from
verist's C code, so the two can disagree.
"""
import json
import math
import re
from decimal import Decimal


class Obj:
    """A JSON object as ordered (key, value) pairs; keys may repeat."""
    __slots__ = ("pairs",)

    def __init__(self, pairs=None):
        self.pairs = list(pairs or [])

    def get(self, key, default=None):
        for k, v in reversed(self.pairs):
            if k == key:
                return v
        return default

    def set(self, key, value):
        self.pairs = [(k, v) for k, v in self.pairs if k != key]
        self.pairs.append((key, value))
        return self

    def drop(self, key):
        self.pairs = [(k, v) for k, v in self.pairs if k != key]
        return self


class Num:
    """A JSON number with its exact text ("1e309", "-0", "1.0" ...)."""
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


class BigNum:
    """A parsed JSON number beyond the double range, with its text: JavaScript
    reads Infinity; the hash chain prints its exact decimal (README)."""
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def chain_text(self):
        """PostgreSQL's numeric output of it: plain notation, scale kept."""
        return format(Decimal(self.text), "f")


class Raw:
    """JSON text spliced in verbatim (deep nesting, or deliberately invalid)."""
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


# Numbers at the edges of what a double (and PostgreSQL's numeric) can hold.
EDGE_NUMBERS = [
    "0", "-0", "0.0", "-0.0", "0e0", "0E-10", "1", "-1", "1.0", "1.50", "1e2", "1E2",
    "1e+2", "1E-2", "1e-7", "1e-6", "0.000001", "0.0000001", "1e20", "1e21",
    "123456789012345680000", "1e308", "-1e308", "1.7976931348623157e308",
    "1.7976931348623158e308", "1.7976931348623159e308", "1e309", "-1e309",
    "5e-324", "-5e-324", "4.9406564584124654e-324", "2.4703282292062328e-324",
    "2.4703282292062327e-324", "2.2250738585072014e-308", "2.225073858507201e-308",
    "1e-400", "9007199254740991", "9007199254740992", "9007199254740993",
    "-9007199254740993", "18446744073709551616", "4294967295", "4294967294",
    "2147483647", "2147483648", "-2147483649", "0.1", "0.2", "0.30000000000000004",
    "123e-20", "100", "1.5e300", "99999999999999999999", "0.5", "1e-323",
    "1" + "0" * 400, "0." + "0" * 500 + "1", "9" * 1000, "3.14159265358979323846264338327950288",
    "1e1000", "-1e-1000", "7.0e-10", "1234567.0e3",
    # shortest digits on a rounding boundary: JavaScript prints 1e+23 and
    # 23021599592181310, PostgreSQL's Ryu 9.999999999999999e+22 and ...312
    "1e23", "23021599592181310",
]

# Keys chosen to hit the array-index rule and UTF-16 ordering.
EDGE_KEYS = [
    "", "0", "1", "2", "10", "9", "01", "00", "-1", "1.0", "1e3", " 1", "1 ",
    "4294967294", "4294967295", "4294967296", "42949672940", "99999999999",
    "a", "A", "b", "Z", "z", "aa", "ab", "type", "payload", "llmTrace",
    "step", "input", "inputs", "topic", "reason", "checkpoint", "resumeStep",
    "\u00e9", "e\u0301", "\uffff", "\ue000", "\U0001f600", "\U00010000", "\ud7ff",
    "\uff61", "\U0010ffff", "\u2028", "\u0080", "\u007f", "\t", "\n", "\"", "\\",
    "constructor", "toString", "hasOwnProperty", "length", "__proto__", "__proto",
    "_proto__", "__PROTO__", "prototype",
]

ASTRAL = ["\U0001f600", "\U0001f4a9", "\U00010000", "\U0010ffff", "\U0001d11e", "\U00020000"]
BMP = ["\u00e9", "\u00ff", "\u0100", "\u4e2d", "\uffff", "\ufffe", "\ue000", "\uff61",
       "\u2028", "\u2029", "\ufeff", "\u200b", "\u0301", "\u07ff", "\u0800"]
CONTROL = [chr(c) for c in range(0x01, 0x20)] + ["\u007f", "\u0080", "\u009f"]


class Gen:
    """Random JSON values and texts from one random.Random."""

    def __init__(self, rng):
        self.rng = rng
        self.deep_used = False      # set by deep(): the caller may expect 54001

    # -- scalars -----------------------------------------------------------

    def number(self):
        r = self.rng.random()
        rng = self.rng
        if r < 0.35:
            return Num(rng.choice(EDGE_NUMBERS))
        if r < 0.55:
            return Num(str(rng.randint(-10**6, 10**6)))
        if r < 0.7:
            return Num(repr(rng.uniform(-1e6, 1e6)))
        if r < 0.8:
            # any double, written with its shortest digits
            x = rng.choice([-1, 1]) * math.ldexp(rng.random(), rng.randint(-1074, 1024))
            if math.isinf(x):
                x = 1.0
            return Num(repr(x).replace("e+", rng.choice(["e+", "e", "E+", "E"])))
        if r < 0.9:
            # a random digit string with a random exponent
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
            digits = digits.lstrip("0") or "0"
            frac = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 30)))
            text = digits + ("." + frac if frac else "")
            if rng.random() < 0.6:
                text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 340))
            return Num(("-" if rng.random() < 0.3 else "") + text)
        return Num(str(rng.choice([2**53 + 1, 2**53 - 1, 2**63, 2**64 + 1, -2**63 - 1,
                                   10**21, 10**21 + 1, 2**31, 2**32 - 2, 2**32 - 1])))

    def string(self, max_len=24):
        rng = self.rng
        r = rng.random()
        if r < 0.1:
            return ""
        if r < 0.45:
            return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_ ")
                           for _ in range(rng.randint(1, max_len)))
        if r < 0.55:
            return rng.choice(EDGE_KEYS)
        if r < 0.9:
            pools = [BMP, ASTRAL, CONTROL, ["\"", "\\", "/", "'", "$"],
                     [chr(rng.randint(0x20, 0xd7ff))], [chr(rng.randint(0xe000, 0x10ffff))]]
            return "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, max_len)))
        if r < 0.97:
            # long: a random chunk repeated (cheap to make, still varied)
            chunk = "".join(chr(rng.randint(0x20, 0x7e)) for _ in range(rng.randint(1, 40)))
            chunk += rng.choice(["", "\U0001f600", "\u00e9", "\n"])
            return chunk * (rng.randint(100, 5000) // len(chunk) + 1)
        if r < 0.973:
            # JavaScript accepts these, PostgreSQL's jsonb refuses them (22P05, 22P02)
            return rng.choice(["a" + chr(rng.randint(0xd800, 0xdfff)) + "b", "nul\u0000"])
        return self.key()

    def key(self):
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            k = rng.choice(EDGE_KEYS)
        elif r < 0.6:
            k = str(rng.choice([rng.randint(0, 20), rng.randint(0, 2**32 + 5), rng.randint(0, 10**12)]))
        elif r < 0.95:
            k = self.string(12)
        else:
            k = rng.choice(["x" * 300, "\U0001f600b", "\ue000a", "\uffffz", "A\u0000B"[:1 if rng.random() < 0.9 else 3]])
        if r > 0.995:
            # the adapter's rebuild (out[k] = v) sets the prototype: no member
            k = "__proto__"
        return k

    def scalar(self):
        r = self.rng.random()
        if r < 0.1:
            return None
        if r < 0.2:
            return self.rng.random() < 0.5
        if r < 0.55:
            return self.number()
        return self.string()

    # -- containers --------------------------------------------------------

    def value(self, depth=4):
        rng = self.rng
        r = rng.random()
        if depth <= 0 or r < 0.45:
            return self.scalar()
        if r < 0.7:
            n = rng.choice([0, 1, 2, 3, 4, 5]) if rng.random() < 0.995 else rng.randint(50, 2000)
            return [self.value(depth - 1) if n < 50 else self.scalar() for _ in range(n)]
        n = rng.choice([0, 1, 2, 3, 4, 6]) if rng.random() < 0.995 else rng.randint(50, 1000)
        obj = Obj([(self.key(), self.value(depth - 1) if n < 50 else self.scalar()) for _ in range(n)])
        if obj.pairs and rng.random() < 0.1:   # a repeated key: the last one wins
            obj.pairs.append((rng.choice(obj.pairs)[0], self.value(depth - 1)))
        return obj

    def obj(self, depth=3):
        n = self.rng.choice([0, 1, 2, 3, 5])
        return Obj([(self.key(), self.value(depth - 1)) for _ in range(n)])

    def deep(self):
        """Absurd nesting, as raw text (Python would recurse too deeply)."""
        rng = self.rng
        self.deep_used = True
        n = rng.choice([64, 500, 2000, 10000, 100000, 1000000])
        kind = rng.random()
        if kind < 0.4:
            return Raw("[" * n + "]" * n)
        if kind < 0.8:
            return Raw('{"a":' * n + "1" + "}" * n)
        return Raw('[{"k":' * (n // 2) + "null" + "}]" * (n // 2))

    def huge(self):
        """One large value (as text: a long string, a long array or a wide object)."""
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            chunk = "".join(rng.choice("abcdef\u00e9\U0001f600\"\\\n") for _ in range(97))
            return Raw(dump_string(chunk, rng, 0.2)[:-1] * rng.randint(10**3, 10**4) + '"')
        if r < 0.7:
            items = [self.number().text for _ in range(100)]
            return Raw("[" + ",".join(items * rng.randint(100, 1000)) + "]")
        return Raw("{" + ",".join('"k%d":%d' % (i, i) for i in range(rng.randint(10**4, 5 * 10**4))) + "}")

    # -- text --------------------------------------------------------------

    def dump(self, value, escape_p=None, space_p=None):
        """JSON text of a tree with random escapes and whitespace."""
        rng = self.rng
        if escape_p is None:
            escape_p = 0.0 if rng.random() < 0.7 else rng.choice([0.1, 0.5, 1.0])
        if space_p is None:
            space_p = 0.0 if rng.random() < 0.8 else 0.3
        out = []
        ws = (" ", "\t", "\n", "\r", "  ")

        def sp():
            if space_p and rng.random() < space_p:
                out.append(rng.choice(ws))

        def emit(v):
            sp()
            if v is None:
                out.append("null")
            elif v is True:
                out.append("true")
            elif v is False:
                out.append("false")
            elif isinstance(v, Num):
                out.append(v.text)
            elif isinstance(v, Raw):
                out.append(v.text)
            elif isinstance(v, (int, float)):
                out.append(repr(v) if isinstance(v, float) else str(v))
            elif isinstance(v, str):
                out.append(dump_string(v, rng, escape_p))
            elif isinstance(v, list):
                out.append("[")
                for i, e in enumerate(v):
                    if i:
                        out.append(",")
                    emit(e)
                sp()
                out.append("]")
            elif isinstance(v, Obj):
                out.append("{")
                for i, (k, e) in enumerate(v.pairs):
                    if i:
                        out.append(",")
                    sp()
                    out.append(dump_string(k, rng, escape_p))
                    sp()
                    out.append(":")
                    emit(e)
                sp()
                out.append("}")
            else:
                raise TypeError(type(v))
            sp()

        emit(value)
        return "".join(out)

    def corrupt(self, text):
        """Break a JSON text the ways clients and attackers do."""
        rng = self.rng
        r = rng.random()
        if not text:
            return rng.choice(["", " ", "{", "nul"])
        if r < 0.15:
            return text[:rng.randint(0, len(text) - 1)]
        if r < 0.3:
            i = rng.randint(0, len(text))
            return text[:i] + rng.choice(["'", "\\", "\\x", "\\u12", "\\ud800", "\\udc00",
                                          "\\ud800\\u0041", ",", "]", "}", ":", "\u0001",
                                          "\n", "\"", "NaN", "Infinity", "-", "01", ".5",
                                          "+1", "1.", "1e", "tru", "/*c*/", "\\u0000"]) + text[i:]
        if r < 0.4:
            return text + rng.choice([",", " x", "}", "]", " 1", "\ufeff"])
        if r < 0.5:
            return "\ufeff" + text
        if r < 0.6:
            return rng.choice(["NaN", "Infinity", "-Infinity", "undefined", "{'a':1}",
                               "[1,]", "{\"a\":1,}", "{\"a\"}", "[01]", "[.5]", "[+1]",
                               "\"\\u0000\"", "\"\\ud800\"", "\"\\udfff\\ud800\"",
                               "\"a\u0001b\"", "{\"a\":1}{}", "[1e]", "[-]", "[1e999999999]",
                               "[1" + "0" * 200000 + "]", "[\"\\uD83D\\uDE00\"]",
                               "[\"\\uDE00\\uD83D\"]", "\"\\U0001F600\""])
        # flip one character
        i = rng.randint(0, len(text) - 1)
        return text[:i] + chr(rng.randint(0x20, 0x7e)) + text[i + 1:]


_MUST_ESCAPE = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')


def dump_string(s, rng, escape_p):
    """A JSON string literal; characters JSON requires escaped always are."""
    if not escape_p:
        return '"' + _MUST_ESCAPE.sub(lambda m: dump_string(m.group(0), rng, 1.0)[1:-1], s) + '"'
    if len(s) > 300:                  # escape a prefix at random, keep it cheap
        return dump_string(s[:300], rng, escape_p)[:-1] + dump_string(s[300:], rng, 0)[1:]
    out = ['"']
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
             "\r": "\\r", "\t": "\\t"}
    for ch in s:
        c = ord(ch)
        must = ch in ('"', "\\") or c < 0x20 or 0xd800 <= c <= 0xdfff
        if must or (escape_p and rng.random() < escape_p):
            if ch in short and rng.random() < 0.8:
                out.append(short[ch])
            elif ch == "/" and rng.random() < 0.5:
                out.append("\\/")
            elif c > 0xffff:
                hi = 0xd800 + ((c - 0x10000) >> 10)
                lo = 0xdc00 + ((c - 0x10000) & 0x3ff)
                out.append(_uesc(hi, rng) + _uesc(lo, rng))
            else:
                out.append(_uesc(c, rng))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _uesc(c, rng):
    h = "%04x" % c
    return "\\u" + (h.upper() if rng.random() < 0.3 else h)


# -- JavaScript's view ---------------------------------------------------------

class JsRejects(ValueError):
    """The text is not something JSON.parse accepts."""


class JsTooDeep(ValueError):
    """The text nests deeper than this oracle follows."""


def _no_constant(name):
    raise JsRejects("JSON.parse rejects " + name)


def _number(text):
    """A JSON number as JavaScript reads it (a double), or a BigNum beyond."""
    x = float(text)
    return BigNum(text) if math.isinf(x) else x


def js_parse(text):
    """JSON.parse: every number a double (BigNum beyond the double range, where
    JavaScript has Infinity), later duplicate keys win."""
    try:
        return json.loads(text, parse_int=_number, parse_float=_number,
                          parse_constant=_no_constant, object_pairs_hook=dict)
    except JsRejects:
        raise
    except RecursionError:
        raise JsTooDeep("nested too deeply for the oracle")
    except ValueError as e:
        raise JsRejects(str(e))


def js_verdict(text):
    """
    What JSON.parse makes of a text: ("ok", value), ("reject", why), or
    ("unknown", why) when it nests deeper than this oracle can follow -- such
    a text is still sent to verist, only not judged against JavaScript.
    """
    try:
        return "ok", js_parse(text)
    except JsRejects as e:
        return "reject", str(e)
    except JsTooDeep as e:
        return "unknown", str(e)


_INDEX_RE = re.compile(r"0|[1-9][0-9]*")


def _is_array_index(k):
    # (at most 10 digits: also keeps int() off keys of thousands of digits)
    return len(k) <= 10 and _INDEX_RE.fullmatch(k) is not None and int(k) <= 4294967294


def _js_key_order(k):
    """Enumeration order of a rebuilt object: indices numerically, then UTF-16."""
    if _is_array_index(k):
        return (0, int(k), b"")
    return (1, 0, k.encode("utf-16-be", "surrogatepass"))


def js_number(x):
    """Number.prototype.toString for a finite double (JSON.stringify prints it)."""
    if math.isnan(x) or math.isinf(x):
        return "null"                 # what JSON.stringify does with them
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    _, digit_tuple, exp = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, digit_tuple))
    while len(digits) > 1 and digits.endswith("0"):
        digits = digits[:-1]
        exp += 1
    k = len(digits)
    n = k + exp                       # x = 0.digits * 10^n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        body = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + body


_JS_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
             "\r": "\\r", "\t": "\\t"}


def _js_escape(m):
    ch = m.group(0)
    return _JS_SHORT.get(ch) or "\\u%04x" % ord(ch)


def js_string(s):
    """JSON.stringify of a string (well-formed: lone surrogates escaped)."""
    return '"' + _MUST_ESCAPE.sub(_js_escape, s) + '"'


def js_stringify_canonical(v, chain=False):
    """
    JSON.stringify of v after rebuilding every object with sorted keys: the
    rebuild drops "__proto__" members (assigning one sets the prototype), and
    a BigNum is Infinity, printed null.  chain=True: the hash chain's form,
    which keeps "__proto__" members and prints a BigNum as its exact decimal.
    """
    out = []

    def emit(x):
        if x is None:
            out.append("null")
        elif x is True:
            out.append("true")
        elif x is False:
            out.append("false")
        elif isinstance(x, float):
            out.append(js_number(x))
        elif isinstance(x, BigNum):
            out.append(x.chain_text() if chain else "null")
        elif isinstance(x, str):
            out.append(js_string(x))
        elif isinstance(x, list):
            out.append("[")
            for i, e in enumerate(x):
                if i:
                    out.append(",")
                emit(e)
            out.append("]")
        elif isinstance(x, dict):
            out.append("{")
            keys = [k for k in x if chain or k != "__proto__"]
            for i, k in enumerate(sorted(keys, key=_js_key_order)):
                if i:
                    out.append(",")
                out.append(js_string(k))
                out.append(":")
                emit(x[k])
            out.append("}")
        else:
            raise TypeError(type(x))

    emit(v)
    return "".join(out)


def has_non_finite(v):
    """Does a parsed value hold a number beyond the double range?"""
    if isinstance(v, BigNum):
        return True
    if isinstance(v, float):
        return math.isinf(v)
    if isinstance(v, list):
        return any(has_non_finite(e) for e in v)
    if isinstance(v, dict):
        return any(has_non_finite(e) for e in v.values())
    return False
