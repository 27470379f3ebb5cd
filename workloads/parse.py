"""The extended-Einsum language: text → `Cascade`.

One statement per line (`#` starts a comment):

    input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]     # cascade inputs and their ranks
    split p -> p1, p0                            # view rank P as P1 × P0 (padded)
    mask m, p: causal                            # filter every Einsum that iterates both ranks
    RM[b,h,m,0] = -inf                           # initial value of an iterative tensor
    QK[b,h,m,p] = Q[b,h,m,e] * K[b,h,p,e]        # ranks only on the right are sum-reduced
    GM[b,h,m] = max(p: QK[b,h,m,p])              # ... unless a reduce op is named
    RM[b,h,m,p1+1] = max(RM[b,h,m,p1], LM[b,h,m,p1])   # iterative rank p1
    AV[b,h,m,f] = RNV[b,h,m,P1,f] / RD[b,h,m,P1]       # P1 = the final point
    output AV                                    # optional: default is the last Einsum

Masks: `causal`, `window(left=, right=)`, `gna(spatial=(..), window=(..), stride=(..), dilation=(..), causal=(..))`,
`blocks(q_block=, kv_block=, keep=((1,0),(1,1)))` (see `workloads.mask_spec`). Names are ASCII identifiers of at
most 64 characters; rank variables start with a lower-case letter, and their upper-case form is the rank.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from workloads.errors import CascadeError, quote, shorten
from workloads.ir import EACH, FIRST, LAST, NEXT, Call, Const, Einsum, Expr, Index, Init, Ref, Split
from workloads.mask_spec import parse_mask
from workloads.ops import OPS, REDUCE_OPS

# Names are ASCII (`mı` upper-cases to `MI`, so a Unicode rank variable could alias another rank).
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+|\d+(?:[eE][-+]?\d+)?)"   # a number
                    r"|([A-Za-z_]\w*)|(->|[-+*/()\[\],:=]))", re.ASCII)                  # a name | an operator
MAX_NAME_LENGTH = 64   # characters of a tensor, rank or op name (messages quote names whole)
NAME = re.compile(r"[A-Za-z_]\w*", re.ASCII)          # tensor and op names
VARIABLE = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)   # rank variables; upper case names the rank's final point
_BINARY = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


@dataclass(frozen=True)
class Statement:
    """One parsed line before name resolution: `kind` is input | split | mask | output | init | einsum."""
    kind: str
    text: str
    payload: object


def tokenize(text: str, where: str) -> list[str]:
    """One statement's tokens: numbers, ASCII names and operators (`where` names the statement in errors)."""
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            bad = text[pos:].strip()[:1] or text[pos:pos + 1]
            if not bad.isascii():
                raise CascadeError(f"{where}: non-ASCII character {bad!r} (names are ASCII letters, digits and _)")
            raise CascadeError(f"{where}: unexpected character {bad!r}")
        token = match.group(match.lastindex)
        if match.lastindex == 2 and len(token) > MAX_NAME_LENGTH:
            raise CascadeError(f"{where}: name {quote(token, 40)} is longer than {MAX_NAME_LENGTH} characters")
        tokens.append(token)
        pos = match.end()
    return tokens


class _Tokens:
    """A cursor over a statement's tokens that raises CascadeError, naming the statement, on anything unexpected."""

    def __init__(self, tokens: list[str], where: str):
        self.tokens, self.pos, self.where = tokens, 0, where

    def peek(self, ahead: int = 0) -> str | None:
        """The token `ahead` places on, or None past the end."""
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def next(self) -> str:
        """Consume and return the next token."""
        token = self.peek()
        if token is None:
            raise CascadeError(f"{self.where}: statement ends too early")
        self.pos += 1
        return token

    def expect(self, token: str) -> None:
        """Consume the next token, which must be `token`."""
        got = self.next()
        if got != token:
            raise CascadeError(f"{self.where}: expected {token!r} but found token {quote(got)}")

    def name(self) -> str:
        """Consume a name (tensor, rank variable or op)."""
        token = self.next()
        if not NAME.fullmatch(token):
            raise CascadeError(f"{self.where}: expected a name but found token {quote(token)}")
        return token

    def done(self) -> None:
        """The statement must end here."""
        if self.peek() is not None:
            raise CascadeError(f"{self.where}: unexpected token {quote(self.peek())} after the end of the statement")


def _index(tokens: _Tokens) -> Index:
    token = tokens.next()
    if token == "0":
        return Index("", FIRST)
    if not NAME.fullmatch(token):
        raise CascadeError(f"{tokens.where}: bad index token {quote(token)} (use a rank variable, var+1, 0 or the "
                           f"rank name)")
    if token == token.upper() and token != token.lower():
        return Index(_variable(token.lower(), tokens.where).upper(), LAST)
    if token != token.lower():
        raise CascadeError(f"{tokens.where}: index token {quote(token)} mixes cases (variables are lower case, "
                           f"the final point is the upper-case rank name)")
    _variable(token, tokens.where)
    if tokens.peek() == "+":
        tokens.next()
        one = tokens.next()
        if one != "1":
            raise CascadeError(f"{tokens.where}: only `{token}+1` is allowed, found token {quote(one)}")
        return Index(token.upper(), NEXT)
    return Index(token.upper(), EACH)


def _variable(token: str, where: str) -> str:
    """A rank variable: a lower-case ASCII letter, then letters, digits or _ (so its upper case is a rank name)."""
    if not VARIABLE.fullmatch(token):
        raise CascadeError(f"{where}: rank variable {quote(token)} must start with a letter (then letters, digits "
                           f"or _)")
    return token


def _ref(tokens: _Tokens, name: str) -> Ref:
    tokens.expect("[")
    indices = [_index(tokens)]
    while tokens.peek() == ",":
        tokens.next()
        indices.append(_index(tokens))
    tokens.expect("]")
    return Ref(name, tuple(indices))


def _atom(tokens: _Tokens) -> tuple[Expr, tuple[str, str | None] | None]:
    token = tokens.next()
    if token == "(":
        expr = _sum(tokens)
        tokens.expect(")")
        return expr, None
    if re.fullmatch(r"[\d.]+(?:[eE][-+]?\d+)?", token):
        return Const(float(token)), None
    if token == "inf":
        return Const(math.inf), None
    if not NAME.fullmatch(token):
        raise CascadeError(f"{tokens.where}: unexpected token {quote(token)}")
    if tokens.peek() == "[":
        return _ref(tokens, token), None
    if tokens.peek() != "(":
        raise CascadeError(f"{tokens.where}: {quote(token)} is neither a tensor reference (name[...]) nor an op call "
                           f"(name(...))")
    tokens.next()
    # A reduction names its ranks before a colon: max(p: X[...]).
    if tokens.peek(1) in (":", ",") and token in REDUCE_OPS and _looks_like_rank_list(tokens):
        ranks = [_variable(tokens.name(), tokens.where)]
        while tokens.peek() == ",":
            tokens.next()
            ranks.append(_variable(tokens.name(), tokens.where))
        tokens.expect(":")
        expr = _sum(tokens)
        tokens.expect(")")
        return expr, (token, tuple(r.upper() for r in ranks))
    args = [_sum(tokens)]
    while tokens.peek() == ",":
        tokens.next()
        args.append(_sum(tokens))
    tokens.expect(")")
    if token not in OPS:
        raise CascadeError(f"{tokens.where}: unknown op {quote(token)} (known: {', '.join(sorted(OPS))}; "
                           f"reductions: {', '.join(f'{r}(ranks: ...)' for r in REDUCE_OPS)})")
    if len(args) != OPS[token].arity:
        raise CascadeError(f"{tokens.where}: op {token!r} takes {OPS[token].arity} argument(s), got {len(args)}")
    return Call(token, tuple(args)), None


def _looks_like_rank_list(tokens: _Tokens) -> bool:
    """After `max(`: true for `p:` or `p1, p0:` (names separated by commas, then a colon)."""
    i = 0
    while True:
        name, sep = tokens.peek(i), tokens.peek(i + 1)
        if name is None or not VARIABLE.fullmatch(name):
            return False
        if sep == ":":
            return True
        if sep != ",":
            return False
        i += 2


def _unary(tokens: _Tokens) -> Expr:
    if tokens.peek() == "-":
        tokens.next()
        inner = _unary(tokens)
        return Const(-inner.value) if isinstance(inner, Const) else Call("neg", (inner,))
    expr, reduction = _atom(tokens)
    if reduction is not None:
        # Only legal as the whole right-hand side; the caller checks that it is.
        return _Reduction(reduction[0], reduction[1], expr)
    return expr


@dataclass(frozen=True)
class _Reduction:
    op: str
    ranks: tuple[str, ...]
    expr: Expr


def _product(tokens: _Tokens) -> Expr:
    expr = _unary(tokens)
    while tokens.peek() in ("*", "/"):
        op = _BINARY[tokens.next()]
        expr = Call(op, (_no_reduction(expr, tokens), _no_reduction(_unary(tokens), tokens)))
    return expr


def _sum(tokens: _Tokens) -> Expr:
    expr = _product(tokens)
    while tokens.peek() in ("+", "-"):
        op = _BINARY[tokens.next()]
        expr = Call(op, (_no_reduction(expr, tokens), _no_reduction(_product(tokens), tokens)))
    return expr


def _no_reduction(expr, tokens: _Tokens) -> Expr:
    if isinstance(expr, _Reduction):
        raise CascadeError(f"{tokens.where}: a reduction ({expr.op}({', '.join(r.lower() for r in expr.ranks)}: ...)) "
                           f"must be the whole right-hand side of an Einsum")
    return expr


def _check_nested(expr, where: str) -> None:
    if isinstance(expr, _Reduction):
        raise CascadeError(f"{where}: a reduction ({expr.op}(...)) must be the whole right-hand side of an Einsum")
    if isinstance(expr, Call):
        for arg in expr.args:
            _check_nested(arg, where)


def parse_statement(line: str, number: int) -> Statement | None:
    """One line as a `Statement` (None for a blank or comment line); `number` is its line for messages."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    where = f"line {number} `{shorten(text)}`"
    if text.split(None, 1)[0] == "mask":
        return _mask_statement(text, where)
    tokens = _Tokens(tokenize(text, where), where)
    keyword = tokens.peek() if tokens.peek(1) != "[" else None
    if keyword == "input":
        tokens.next()
        refs = [_ref(tokens, tokens.name())]
        while tokens.peek() == ",":
            tokens.next()
            refs.append(_ref(tokens, tokens.name()))
        tokens.done()
        return Statement("input", text, tuple(refs))
    if keyword == "split":
        return _split_statement(tokens, text, where)
    if keyword == "output":
        tokens.next()
        name = tokens.name()
        tokens.done()
        return Statement("output", text, name)
    return _einsum_statement(tokens, text, where)


def _mask_statement(text: str, where: str) -> Statement:
    if ":" not in text:
        raise CascadeError(f"{where}: a mask reads `mask q, k: kind(...)`")
    ranks_text, spec = text[len("mask"):].split(":", 1)
    ranks = [r.strip() for r in ranks_text.split(",")]
    if len(ranks) != 2 or not all(VARIABLE.fullmatch(r) for r in ranks):
        raise CascadeError(f"{where}: a mask names two rank variables (query, key), got {quote(ranks_text.strip())}")
    return Statement("mask", text, parse_mask(ranks[0], ranks[1], spec, where))


def _split_statement(tokens: _Tokens, text: str, where: str) -> Statement:
    tokens.next()
    rank = tokens.name()
    tokens.expect("->")
    outer = tokens.name()
    tokens.expect(",")
    inner = tokens.name()
    tokens.done()
    for r in (rank, outer, inner):
        if not VARIABLE.fullmatch(r):
            raise CascadeError(f"{where}: split ranks are written as lower-case variables, got token {quote(r)}")
    return Statement("split", text, Split(rank.upper(), outer.upper(), inner.upper()))


def _einsum_statement(tokens: _Tokens, text: str, where: str) -> Statement:
    """`NAME[...] = expression`: an Einsum, or an initial value when the left side indexes 0."""
    name = tokens.name()
    if tokens.peek() != "[":
        raise CascadeError(f"{where}: expected `{name}[...] = ...`, found token {quote(tokens.peek())}")
    lhs = _ref(tokens, name)
    tokens.expect("=")
    where = f"Einsum {shorten(name, 40)} `{shorten(text)}`"
    tokens.where = where
    rhs = _sum(tokens)
    tokens.done()
    if any(i.step == FIRST for i in lhs.indices):
        if not isinstance(rhs, Const):
            raise CascadeError(f"{where}: an initial value (index 0 on the left) must be a constant")
        return Statement("init", text, (lhs, Init(name, rhs.value)))
    if isinstance(rhs, _Reduction):
        _check_nested(rhs.expr, where)
        return Statement("einsum", text, Einsum(name, lhs, rhs.expr, rhs.op, rhs.ranks, text))
    _check_nested(rhs, where)
    return Statement("einsum", text, Einsum(name, lhs, rhs, None, (), text))


def parse(text: str) -> list[Statement]:
    """Every statement of a cascade's text, in order."""
    if not isinstance(text, str):
        raise CascadeError(f"cascade text must be a str, got {type(text).__name__}")
    statements = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            statement = parse_statement(line, number)
        except RecursionError:
            raise CascadeError(f"line {number}: expression nested too deeply (parentheses or unary minus)") from None
        if statement is not None:
            statements.append(statement)
    return statements
