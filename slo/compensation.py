"""Compensation: the month's credit lines from availability and incidents (pure).

docs/design.md "Accounting semantics", exactly:

* **Availability credit** per service, by ``tiered`` (half-open tiers below the
  service's objective, looked up on the exact ``Fraction``), ``linear``
  (``(objective − availability) × factor``, clamped to [0, 100 %]) or ``max``
  (the larger).  A customer pays one fee for one platform, so the month's
  availability credit is the *largest* of its services' credits, never the sum.
* **Interruption refund** (pro rata, ``fee × downtime / period``) covers the same
  minutes: the greater of it and the availability credit is paid, never both.
* **Response credit** from incidents: lateness relative to the priority's
  standard respond time; the worst incident of the month (or the sum).
* **Data-loss credit**: the first tier is ``< bound``, later tiers ``≤ bound``
  (the source's "< 1 h / 1–24 h / > 24 h"); past the last bounded tier a
  person reviews the negotiated extra.  It sits outside the cap.  The loss is
  what the ticket states; a ticket that states none, of a priority in
  ``data_loss_from_backups`` (default P1) or flagged data corruption, lost what
  the backup record says: its opening − the newest recoverable point before it
  (docs/design.md "RPO"), printed with that point as evidence.
* **Cap** on availability + interruption + response, shown as its own negative line.
* **Data corruption** (数据损坏: 免费数据恢复 + 服务费补偿) and **security incidents**
  (安全事件: 免费安全加固 + 服务费补偿): a month with incidents so flagged earns one
  fee credit per kind (a policy percentage, default 10 %, outside the cap, which
  the contract draws around availability, interruption and response only) and,
  per incident, a non-monetary line for the free recovery or hardening, with its
  status.

Money is ``Decimal`` (never a float); each line is rounded once to 0.01 with
ROUND_HALF_UP from the exact ``Fraction`` product, and the total is the sum of
the rounded lines, also in Chinese capital numerals (:func:`amount_in_words`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal, TypeVar

from slo.availability import Availability
from slo.fmt import number, percent_down, percent_text
from slo.periods import rfc3339
from slo.recovery import RecoveryPoint, data_loss_at

CreditMode = Literal["tiered", "linear", "max"]
LineKind = Literal["availability", "interruption", "response", "data_loss", "cap",
                   "data_corruption", "data_recovery", "security", "security_hardening"]
RemedyStatus = Literal["pending", "in_progress", "done"]
REMEDY_STATUSES: tuple[RemedyStatus, ...] = ("pending", "in_progress", "done")
# The status of a free remedy on a statement (中文, English).
REMEDY_STATUS_TEXT: Mapping[str, tuple[str, str]] = {
    "pending": ("待执行", "pending"),
    "in_progress": ("进行中", "in progress"),
    "done": ("已完成", "done"),
}
CAPPED_KINDS: tuple[LineKind, ...] = ("availability", "interruption", "response")
# Each kind's name on a statement (中文, English); every renderer takes it from here.
LINE_KINDS: Mapping[LineKind, tuple[str, str]] = {
    "availability": ("可用性补偿", "Availability"),
    "interruption": ("服务中断补偿", "Interruption (pro rata)"),
    "response": ("响应时间补偿", "Response time"),
    "data_loss": ("数据丢失补偿", "Data loss"),
    "cap": ("补偿上限", "Cap"),
    "data_corruption": ("数据损坏补偿", "Data corruption"),
    "data_recovery": ("免费数据恢复", "Free data recovery"),
    "security": ("安全事件补偿", "Security incident"),
    "security_hardening": ("免费安全加固", "Free security hardening"),
}
CENT = Decimal("0.01")
_HUNDRED = Fraction(100)
_B = TypeVar("_B", Decimal, int)


# -- incidents ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One incident as compensation needs it, from ``import-incidents`` or alerting.

    Instants are epoch milliseconds (UTC); ``None`` means "not yet".  ``customer``
    ``None`` and empty ``services`` mean the incident concerns every customer.
    """

    id: str
    priority: str  # "P1" … "P4": the key of ``incidents.priorities``
    opened_ms: int
    responded_ms: int | None = None
    restored_ms: int | None = None
    resolved_ms: int | None = None
    data_lost_seconds: int = 0
    customer: str | None = None
    services: tuple[str, ...] = ()
    title: str = ""
    # 数据损坏: free data recovery is owed, with its status; 安全事件: free hardening.
    data_corruption: bool = False
    security: bool = False
    recovery_status: RemedyStatus | None = None  # None with the flag: pending
    hardening_status: RemedyStatus | None = None
    # The ticket states its data loss (even 0): it wins over the backup record.  A
    # positive ``data_lost_seconds`` is stated whatever this says.
    data_loss_stated: bool = False

    @property
    def states_data_loss(self) -> bool:
        return self.data_loss_stated or self.data_lost_seconds > 0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("incident id must not be empty")
        for flag, status in (("data_corruption", "recovery_status"),
                             ("security", "hardening_status")):
            value = getattr(self, status)
            if value is not None and value not in REMEDY_STATUSES:
                raise ValueError(f"{self.id}: {status} must be one of "
                                 f"{', '.join(REMEDY_STATUSES)}")
            if value is not None and not getattr(self, flag):
                raise ValueError(f"{self.id}: {status} is only for a {flag} incident")
        if self.data_lost_seconds < 0:
            raise ValueError(f"{self.id}: data_lost_seconds must not be negative")
        for name in ("responded_ms", "restored_ms", "resolved_ms"):
            value = getattr(self, name)
            if value is not None and value < self.opened_ms:
                raise ValueError(f"{self.id}: {name.removesuffix('_ms')} before opened")

    def concerns(self, customer: str, services: Iterable[str]) -> bool:
        if self.customer is not None and self.customer != customer:
            return False
        return not self.services or bool(set(self.services) & set(services))


# -- policy -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompensationPolicy:
    """The ``compensation:`` section plus the respond standard of each priority.

    Percents are ``Decimal`` percents (10 = 10 %); ``None`` bounds are infinite.
    """

    policy_version: str = "1"
    currency: str = "CNY"
    mode: CreditMode = "tiered"
    # (lower bound %, credit %): from the bound (inclusive) to the next higher one
    # or the objective (exclusive).
    availability_tiers: tuple[tuple[Decimal, Decimal], ...] = (
        (Decimal("99.0"), Decimal(10)), (Decimal("95.0"), Decimal(25)),
        (Decimal("90.0"), Decimal(50)), (Decimal(0), Decimal(100)),
    )
    linear_factor: Decimal = Decimal(10)
    interruption: Literal["prorata", "none"] = "prorata"
    # always: the pro-rata refund is owed every month (the greater of it and the
    # availability credit is paid); when_objective_missed: only in a month whose
    # objective is missed.
    interruption_refund: Literal["always", "when_objective_missed"] = "always"
    claim_window_days: int = 60  # after the month's last day, as Tencent
    response_combine: Literal["worst", "sum"] = "worst"
    # (lateness ≤ % of the standard, credit %)
    response_tiers: tuple[tuple[Decimal | None, Decimal], ...] = (
        (Decimal(50), Decimal(5)), (Decimal(100), Decimal(10)), (None, Decimal(20)),
    )
    respond_ms: Mapping[str, int] = field(default_factory=dict)  # priority → standard
    # priority → restore / resolve standard: evidence on the statement (no credit tier)
    restore_ms: Mapping[str, int] = field(default_factory=dict)
    resolve_ms: Mapping[str, int] = field(default_factory=dict)
    # (data lost: < first bound, then ≤ bound, in seconds; credit %)
    data_loss_tiers: tuple[tuple[int | None, Decimal], ...] = (
        (3600, Decimal(50)), (86_400, Decimal(100)), (None, Decimal(300)),
    )
    cap_percent: Decimal = Decimal(100)
    settlement: tuple[str, ...] = ("fee_reduction",)
    # 服务费补偿 for a month with a data-corruption / security incident (% of the fee):
    # the standard names the compensation but not its size.
    data_corruption_percent: Decimal = Decimal(10)
    security_percent: Decimal = Decimal(10)
    # Priorities whose incidents, without a stated loss, lost the data since the newest
    # recoverable backup point before they began.
    data_loss_from_backups: tuple[str, ...] = ("P1",)

    def __post_init__(self) -> None:
        if not self.availability_tiers:
            raise ValueError("availability tiers must not be empty")
        if any(ms <= 0 for ms in self.respond_ms.values()):
            raise ValueError("respond standards must be positive")
        object.__setattr__(self, "availability_tiers",
                           tuple(sorted(self.availability_tiers, key=lambda t: -t[0])))
        object.__setattr__(self, "response_tiers", _ascending(self.response_tiers))
        object.__setattr__(self, "data_loss_tiers", _ascending(self.data_loss_tiers))


def _ascending(tiers: Iterable[tuple[_B | None, Decimal]]) -> tuple[tuple[_B | None, Decimal], ...]:
    """Bounded tiers by bound, the open (``None``) tier last."""
    items: list[tuple[_B | None, Decimal]] = list(tiers)
    bounded: list[tuple[_B | None, Decimal]] = [t for t in items if t[0] is not None]
    bounded.sort(key=lambda t: Fraction(t[0] or 0))
    return tuple(bounded + [t for t in items if t[0] is None])


# -- money --------------------------------------------------------------------


def round_money(x: Fraction | Decimal | int) -> Decimal:
    """Round an exact amount once to 0.01 with ROUND_HALF_UP (away from zero on .5)."""
    fen = Fraction(x) * 100
    sign = -1 if fen < 0 else 1
    whole = math.floor(abs(fen) + Fraction(1, 2)) * sign
    return Decimal(whole).scaleb(-2)


def share_of_fee(fee: Decimal, percent: Fraction | Decimal) -> Decimal:
    """``fee × percent / 100``, rounded once: 1234.45 × 10 % → 123.45."""
    return round_money(Fraction(fee) * Fraction(percent) / _HUNDRED)


def money_text(amount: Decimal) -> str:
    """Two decimals, no exponent, no grouping: ``"1200.00"``."""
    return f"{amount.quantize(CENT):f}"


def extension_days(credit: Decimal, fee: Decimal, days_in_month: int) -> int | None:
    """ceil(credit ÷ daily fee), daily fee = fee ÷ days in the month; None for a zero fee."""
    if credit <= 0:
        return 0
    if fee <= 0:
        return None
    return math.ceil(Fraction(credit) * days_in_month / Fraction(fee))


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_POWERS = ("", "拾", "佰", "仟")
_WORDS_LIMIT = 10**16  # 万亿 is the largest unit written


def _group(n: int) -> str:
    """1 ≤ n ≤ 9999 with one 零 for each inner run of zeros: 1009 → 壹仟零玖."""
    out: list[str] = []
    zero = False
    for power in range(3, -1, -1):
        d = n // 10**power % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(_DIGITS[d] + _POWERS[power])
    return "".join(out)


def _integer(n: int) -> str:
    """n ≥ 1.  A 零 joins a unit (万, 亿) to a lower part whose top digit is zero;
    with a non-zero top digit the unit itself marks the gap (壹拾万柒仟, the first
    form the PBOC rules give for ￥107000.53)."""
    for width, unit in ((8, "亿"), (4, "万")):
        if n >= 10**width:
            head, low = divmod(n, 10**width)
            text = _integer(head) + unit
            if low == 0:
                return text
            return text + ("零" if low < 10 ** (width - 1) else "") + _integer(low)
    return _group(n)


def amount_in_words(amount: Decimal) -> str:
    """An amount in Chinese capital numerals (大写), per the PBOC rules for bills:
    ``1200.00`` → 壹仟贰佰元整, ``1409.50`` → 壹仟肆佰零玖元伍角,
    ``1680.32`` → 壹仟陆佰捌拾元零叁角贰分, ``325.04`` → 叁佰贰拾伍元零肆分,
    ``0.00`` → 零元整.  整 follows 元 only; 零 after 元 when the 元 digit or the 角 is
    zero and more follows."""
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        raise ValueError(f"not a non-negative amount in 0.01 units: {amount!r}")
    fen_total = int(amount.scaleb(2))
    if fen_total >= _WORDS_LIMIT * 100:
        raise ValueError(f"amount too large for capital numerals: {amount}")
    yuan, rest = divmod(fen_total, 100)
    jiao, fen = divmod(rest, 10)
    if fen_total == 0:
        return "零元整"
    text = _integer(yuan) + "元" if yuan else ""
    if rest == 0:
        return text + "整"
    if jiao:
        text += ("零" if yuan and yuan % 10 == 0 else "") + _DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    return text + (_DIGITS[fen] + "分" if fen else "")


# -- durations and percents in rule texts --------------------------------------


def duration_text(seconds: int) -> str:
    """Exact, largest units first: 21660 → ``"6 h 1 min"``, 2610 → ``"43 min 30 s"``."""
    if seconds == 0:
        return "0 s"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {unit}")
    return " ".join(parts)


def duration_text_zh(seconds: int) -> str:
    """21660 → ``"6小时1分钟"``."""
    if seconds == 0:
        return "0秒"
    parts = []
    for unit, size in (("天", 86_400), ("小时", 3600), ("分钟", 60), ("秒", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def pct(x: Fraction | Decimal | int) -> str:
    """A percent for display: exact when it terminates within 6 places, else rounded down."""
    return number(x, 6)


def bound_text(p: Decimal) -> str:
    """A tier bound as the contract writes it: 99 → ``"99.0"``, 99.9 → ``"99.9"``."""
    text = percent_text(p)
    return text if "." in text else f"{text}.0"


# -- availability and interruption ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceCredit:
    """One service's availability credit and pro-rata refund, both as percents of the fee."""

    service: str
    availability: Fraction  # exact ratio
    objective_percent: Decimal
    mode: CreditMode
    linear_factor: Decimal
    tier: tuple[Decimal, Decimal] | None  # (lower %, credit %) matched; None when met
    tier_upper: Decimal | None  # the tier's exclusive upper bound (%)
    tiered: Fraction  # percent
    linear: Fraction  # percent, clamped to [0, 100]
    applied: Literal["met", "tiered", "linear"]
    percent: Fraction  # the credit of the configured mode
    downtime_seconds: int
    basis_seconds: int  # period − excluded: the pro-rata denominator
    prorata: Fraction  # percent (0 when interruption is "none")

    @property
    def availability_text(self) -> str:
        return percent_down(self.availability)


def _tier(a_percent: Fraction, objective: Decimal, tiers: Sequence[tuple[Decimal, Decimal]]
          ) -> tuple[tuple[Decimal, Decimal] | None, Decimal | None]:
    """The matched (lower, credit) tier and its upper bound; (None, None) when met."""
    if a_percent >= Fraction(objective):
        return None, None
    upper = objective
    for lower, credit in tiers:  # descending lower bounds
        if lower >= objective:
            continue
        if a_percent >= Fraction(lower):
            return (lower, credit), upper
        upper = lower
    return tiers[-1], upper  # below every bound: the lowest tier


def _linear(a_percent: Fraction, objective: Decimal, factor: Decimal) -> Fraction:
    raw = (Fraction(objective) - a_percent) * Fraction(factor)
    return min(max(raw, Fraction(0)), _HUNDRED)


def service_credit(a: Availability, policy: CompensationPolicy) -> ServiceCredit:
    """The availability credit of one service by the policy's mode, and its pro-rata refund."""
    a_percent = a.availability * 100
    tier, upper = _tier(a_percent, a.objective_percent, policy.availability_tiers)
    tiered = Fraction(tier[1]) if tier else Fraction(0)
    linear = _linear(a_percent, a.objective_percent, policy.linear_factor)
    applied: Literal["met", "tiered", "linear"]
    if tier is None and linear == 0:
        applied, percent = "met", Fraction(0)
    elif policy.mode == "linear" or (policy.mode == "max" and linear > tiered):
        applied, percent = "linear", linear
    else:
        applied, percent = "tiered", tiered
    basis = a.period_seconds - a.excluded_seconds
    # The refund covers the same minutes as the availability credit: the greater of
    # the two is paid (_availability_line).  Under "when_objective_missed" a month
    # within its objective owes none (the other reading of the standard).
    owed = policy.interruption == "prorata" and basis > 0 and (
        policy.interruption_refund == "always" or not a.met)
    prorata = Fraction(a.downtime_seconds * 100, basis) if owed else Fraction(0)
    return ServiceCredit(a.service, a.availability, a.objective_percent, policy.mode,
                         policy.linear_factor, tier, upper,
                         tiered, linear, applied, percent, a.downtime_seconds, basis,
                         min(prorata, _HUNDRED))


# -- incidents: response and data loss -----------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentCredit:
    incident: IncidentRecord
    standard_ms: int | None  # None: the priority has no respond standard
    response_ms: int | None  # responded − opened (or now − opened when still unanswered)
    answered: bool
    lateness: Fraction | None  # (response − standard) / standard as a percent, when late
    response_tier: int  # index of the matched response tier, −1 when not late
    response_percent: Decimal
    data_loss_percent: Decimal
    data_loss_tier: int  # index of the matched data-loss tier, −1 without loss
    review: bool  # past the last bounded data-loss tier: a person decides the extra
    data_loss_seconds: int = 0  # the loss assessed: stated, or from the backup record
    data_loss_source: Literal["ticket", "backups"] | None = None
    backup: RecoveryPoint | None = None  # the newest point before it began (evidence)
    backup_unknown: bool = False  # in scope, but no point is known before it began


def response_tier(lateness: Fraction, tiers: Sequence[tuple[Decimal | None, Decimal]]) -> int:
    """Index of the tier for a lateness (percent of the standard, > 0): the first whose
    bound ≥ it (the last tier past every bound)."""
    for i, (bound, _) in enumerate(tiers):
        if bound is None or lateness <= Fraction(bound):
            return i
    return len(tiers) - 1


def data_loss_tier(seconds: int, tiers: Sequence[tuple[int | None, Decimal]]) -> int:
    """Index of the tier: the first is ``< bound``, the later ones ``≤ bound``; −1 for no loss."""
    if seconds <= 0:
        return -1
    for i, (bound, _) in enumerate(tiers):
        if bound is None or seconds < bound or (i > 0 and seconds <= bound):
            return i
    return len(tiers) - 1


def assessed_loss(inc: IncidentRecord, policy: CompensationPolicy,
                  points: Sequence[RecoveryPoint]
                  ) -> tuple[int, Literal["ticket", "backups"] | None, RecoveryPoint | None, bool]:
    """(seconds lost, source, backup point, no point known) of one incident."""
    if inc.states_data_loss:
        return inc.data_lost_seconds, ("ticket" if inc.data_lost_seconds else None), None, False
    if not points or not (inc.priority in policy.data_loss_from_backups or inc.data_corruption):
        return 0, None, None, False
    loss = data_loss_at(inc.opened_ms, points)
    if loss.point is None or loss.seconds is None:
        return 0, None, None, True
    return loss.seconds, ("backups" if loss.seconds else None), loss.point, False


def incident_credit(inc: IncidentRecord, policy: CompensationPolicy, now_ms: int,
                    points: Sequence[RecoveryPoint] = ()) -> IncidentCredit:
    standard = policy.respond_ms.get(inc.priority)
    answered = inc.responded_ms is not None
    end = inc.responded_ms if inc.responded_ms is not None else max(now_ms, inc.opened_ms)
    response = end - inc.opened_ms
    lateness, tier, percent = None, -1, Decimal(0)
    if standard is not None and response > standard:
        lateness = Fraction(response - standard, standard) * 100
        tier = response_tier(lateness, policy.response_tiers)
        percent = policy.response_tiers[tier][1]
    lost, source, point, unknown = assessed_loss(inc, policy, points)
    idx = data_loss_tier(lost, policy.data_loss_tiers)
    loss, review = Decimal(0), False
    if idx >= 0:
        bound, loss = policy.data_loss_tiers[idx]
        review = bound is None or lost > bound  # past every bounded tier
    return IncidentCredit(inc, standard, response, answered, lateness, tier, percent, loss, idx,
                          review, lost, source, point, unknown)


# -- lines ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditLine:
    kind: LineKind
    service: str | None
    rule: str  # English
    rule_zh: str
    percent: Fraction  # of the monthly fee; negative for the cap
    amount: Decimal  # rounded once
    incident: str | None = None
    review: bool = False


@dataclass(frozen=True, slots=True)
class Credits:
    fee: Decimal
    services: tuple[ServiceCredit, ...]
    incidents: tuple[IncidentCredit, ...]
    lines: tuple[CreditLine, ...]
    total: Decimal
    total_in_words: str
    reviews: tuple[str, ...]


def _tiered_rule(c: ServiceCredit) -> tuple[str, str]:
    a, obj = c.availability_text, percent_text(c.objective_percent)
    if c.tier is None:
        return (f"tiered: availability {a} % ≥ objective {obj} % → 0 %",
                f"按档位：可用性 {a}% ≥ 承诺 {obj}% → 0%")
    lo, credit = c.tier
    up = bound_text(c.tier_upper) if c.tier_upper is not None else obj
    return (f"tiered: availability {a} % in [{bound_text(lo)} %, {up} %) → {pct(credit)} %",
            f"按档位：可用性 {a}% 位于 [{bound_text(lo)}%, {up}%) → {pct(credit)}%")


def _linear_rule(c: ServiceCredit) -> tuple[str, str]:
    a, obj, k = c.availability_text, percent_text(c.objective_percent), pct(c.linear_factor)
    return (f"linear: (objective {obj} % − availability {a} %) × {k}, within [0, 100 %] "
            f"→ {pct(c.linear)} %",
            f"按公式：(承诺 {obj}% − 可用性 {a}%) × {k}，限 0–100% → {pct(c.linear)}%")


def availability_rule(c: ServiceCredit) -> tuple[str, str]:
    """The rule applied to one service, in English and Chinese."""
    if c.applied == "met":
        a, obj = c.availability_text, percent_text(c.objective_percent)
        return (f"availability {a} % ≥ objective {obj} %: no credit",
                f"可用性 {a}% 达到承诺 {obj}%：无补偿")
    if c.mode == "tiered":
        return _tiered_rule(c)
    if c.mode == "linear":
        return _linear_rule(c)
    (t_en, t_zh), (l_en, l_zh) = _tiered_rule(c), _linear_rule(c)
    en = "tiered" if c.applied == "tiered" else "linear"
    zh = "档位" if c.applied == "tiered" else "公式"
    return (f"max: {t_en}; {l_en}; the greater applies ({en})",
            f"取较大者：{t_zh}；{l_zh}；采用{zh}")


def _worst_service(services: Sequence[ServiceCredit]) -> ServiceCredit:
    """The largest credit; among equals the lowest availability (the service most affected)."""
    return max(services, key=lambda c: (c.percent, -c.availability))


def _services_note(services: Sequence[ServiceCredit], attr: str) -> tuple[str, str]:
    if len(services) < 2:
        return "", ""
    each = [(c.service, pct(getattr(c, attr))) for c in services]
    return ("; the largest of the services (" + ", ".join(f"{s} {p} %" for s, p in each)
            + "), not their sum",
            "；取各服务中最大者（" + "，".join(f"{s} {p}%" for s, p in each) + "），不累加")


# How the statement names the interruption rule applied (English, 中文).
_REFUND_RULE: Mapping[str, tuple[str, str]] = {
    "always": (" (owed every month)", "（每月均按中断时间比例补偿）"),
    "when_objective_missed": (" (owed when the objective is missed)", "（仅在未达可用性目标时）"),
}


def _availability_line(services: Sequence[ServiceCredit], fee: Decimal,
                       policy_rule: str) -> CreditLine:
    best = _worst_service(services)
    cut = max(services, key=lambda c: (c.prorata, -c.availability))
    if cut.prorata > best.percent:
        en, zh = (f"pro rata{_REFUND_RULE[policy_rule][0]}: "
                  f"{duration_text(cut.downtime_seconds)} interrupted of "
                  f"{duration_text(cut.basis_seconds)} → {pct(cut.prorata)} %, greater than the "
                  f"availability credit ({pct(best.percent)} %): paid instead of it",
                  f"按中断时间比例{_REFUND_RULE[policy_rule][1]}："
                  f"{duration_text_zh(cut.downtime_seconds)} / "
                  f"{duration_text_zh(cut.basis_seconds)} → {pct(cut.prorata)}%，高于可用性补偿"
                  f"（{pct(best.percent)}%），以此代替")
        n_en, n_zh = _services_note(services, "prorata")
        return CreditLine("interruption", cut.service, en + n_en, zh + n_zh, cut.prorata,
                          share_of_fee(fee, cut.prorata))
    en, zh = availability_rule(best)
    n_en, n_zh = _services_note(services, "percent")
    if cut.prorata > 0:
        n_en += f"; pro-rata refund {pct(cut.prorata)} % is not greater: not paid"
        n_zh += f"；按中断时间比例补偿 {pct(cut.prorata)}% 不更高：不另付"
    elif policy_rule == "when_objective_missed" and any(s.downtime_seconds for s in services):
        n_en += "; pro-rata refund" + _REFUND_RULE[policy_rule][0] + ": objective met, none"
        n_zh += "；按中断时间比例补偿" + _REFUND_RULE[policy_rule][1] + "：已达标，不补偿"
    return CreditLine("availability", best.service, en + n_en, zh + n_zh, best.percent,
                      share_of_fee(fee, best.percent))


def _band(tiers: Sequence[tuple[_B | None, Decimal]], i: int, show: Callable[[_B], str],
          first_strict: bool) -> str:
    """``"≤ 100 %"``-like text for tier ``i``; ``show`` formats a bound."""
    bound = tiers[i][0]
    if bound is None:
        prev = tiers[i - 1][0] if i > 0 else None
        return "—" if prev is None else f"> {show(prev)}"
    op = "<" if first_strict and i == 0 else "≤"
    return f"{op} {show(bound)}"


def _pct_en(b: Decimal) -> str:
    return f"{pct(b)} %"


def _pct_zh(b: Decimal) -> str:
    return f"{pct(b)}%"


def _response_line(ic: IncidentCredit, policy: CompensationPolicy, fee: Decimal,
                   of: int) -> CreditLine:
    inc = ic.incident
    assert ic.lateness is not None and ic.standard_ms is not None and ic.response_ms is not None
    band, band_zh = (_band(policy.response_tiers, ic.response_tier, show, first_strict=False)
                     for show in (_pct_en, _pct_zh))
    took_s, std_s = ic.response_ms // 1000, ic.standard_ms // 1000
    verb_en = "responded after" if ic.answered else "no response yet after"
    verb_zh = "响应用时" if ic.answered else "尚未响应，已过"
    worst_en = f"; worst of {of} late incidents" if of > 1 else ""
    worst_zh = f"；取 {of} 个超时事件中最严重者" if of > 1 else ""
    return CreditLine(
        "response", None,
        f"{inc.priority} {inc.id}: {verb_en} {duration_text(took_s)}, standard "
        f"{duration_text(std_s)}: late by {pct(ic.lateness)} % of the standard ({band}) "
        f"→ {pct(ic.response_percent)} %{worst_en}",
        f"{inc.priority} {inc.id}：{verb_zh} {duration_text_zh(took_s)}，标准 "
        f"{duration_text_zh(std_s)}：超出标准 {pct(ic.lateness)}%（{band_zh}）"
        f"→ {pct(ic.response_percent)}%{worst_zh}",
        Fraction(ic.response_percent), share_of_fee(fee, ic.response_percent), inc.id)


def _response_lines(ics: Sequence[IncidentCredit], policy: CompensationPolicy, fee: Decimal
                    ) -> list[CreditLine]:
    late = [ic for ic in ics if ic.response_percent > 0]
    if not late:
        return []
    if policy.response_combine == "sum":
        return [_response_line(ic, policy, fee, 1) for ic in late]
    worst = max(late, key=lambda ic: (ic.response_percent, ic.lateness or 0,
                                      -ic.incident.opened_ms))
    return [_response_line(worst, policy, fee, len(late))]


def _backup_evidence(ic: IncidentCredit, tz: str) -> tuple[str, str]:
    """Which backup the loss was measured from, and how old it was."""
    p = ic.backup
    if ic.data_loss_source != "backups" or p is None:
        return "", ""
    when, age = rfc3339(p.point_ms, tz), ic.data_loss_seconds
    return (f" (began {rfc3339(ic.incident.opened_ms, tz)}; newest recoverable backup "
            f"{when} by {p.target}, {duration_text(age)} old)",
            f"（发生于 {rfc3339(ic.incident.opened_ms, tz)}；最近可恢复备份 {when}（{p.target}），"
            f"距事件 {duration_text_zh(age)}）")


def _data_loss_line(ics: Sequence[IncidentCredit], policy: CompensationPolicy, fee: Decimal,
                    tz: str = "UTC") -> list[CreditLine]:
    lost = [ic for ic in ics if ic.data_loss_tier >= 0]
    if not lost:
        return []
    ic = max(lost, key=lambda c: (c.data_loss_percent, c.data_loss_seconds))
    inc = ic.incident
    band, band_zh = (_band(policy.data_loss_tiers, ic.data_loss_tier, show, first_strict=True)
                     for show in (duration_text, duration_text_zh))
    ev_en, ev_zh = _backup_evidence(ic, tz)
    en = (f"{inc.id}: {duration_text(ic.data_loss_seconds)} of data lost{ev_en} ({band}) "
          f"→ {pct(ic.data_loss_percent)} %, outside the cap")
    zh = (f"{inc.id}：数据丢失 {duration_text_zh(ic.data_loss_seconds)}{ev_zh}（{band_zh}）"
          f"→ {pct(ic.data_loss_percent)}%，不计入上限")
    if len(lost) > 1:
        en += f"; worst of {len(lost)} incidents with data loss"
        zh += f"；取 {len(lost)} 个数据丢失事件中最严重者"
    if ic.review:
        en += "; the negotiated extra needs manual review"
        zh += "；额外赔偿须人工审核"
    return [CreditLine("data_loss", None, en, zh, Fraction(ic.data_loss_percent),
                       share_of_fee(fee, ic.data_loss_percent), inc.id, ic.review)]


# (flag, status attribute, fee kind, remedy kind, standard's words zh, en, remedy zh, en)
_REMEDIES: tuple[tuple[str, str, LineKind, LineKind, str, str, str, str], ...] = (
    ("data_corruption", "recovery_status", "data_corruption", "data_recovery",
     "数据损坏", "data corruption", "免费数据恢复", "free data recovery"),
    ("security", "hardening_status", "security", "security_hardening",
     "安全事件", "security incident", "免费安全加固", "free security hardening"),
)


def remedy_status(inc: IncidentRecord, attr: str) -> str:
    """A flagged incident's remedy status; not reported yet means pending."""
    return getattr(inc, attr) or "pending"


def _remedy_lines(incidents: Sequence[IncidentRecord], policy: CompensationPolicy,
                  fee: Decimal) -> list[CreditLine]:
    """Per kind flagged this month: one fee credit (服务费补偿), then per incident the
    free remedy with its status (amount 0: owed in kind, not in money)."""
    out: list[CreditLine] = []
    for flag, attr, fee_kind, remedy_kind, zh, en, remedy_zh, remedy_en in _REMEDIES:
        flagged = [i for i in incidents if getattr(i, flag)]
        if not flagged:
            continue
        percent = getattr(policy, f"{fee_kind}_percent")
        ids = ", ".join(i.id for i in flagged)
        out.append(CreditLine(
            fee_kind, None,
            f"{en} ({ids}): service-fee compensation {pct(percent)} % of the monthly fee, "
            f"once for the month, outside the cap",
            f"{zh}（{ids}）：服务费补偿当月服务费的 {pct(percent)}%，当月一次，不计入上限",
            Fraction(percent), share_of_fee(fee, percent), flagged[0].id))
        for i in flagged:
            status = remedy_status(i, attr)
            s_zh, s_en = REMEDY_STATUS_TEXT[status]
            out.append(CreditLine(
                remedy_kind, None, f"{i.id}: {remedy_en}, free of charge: {s_en}",
                f"{i.id}：{remedy_zh}，免费提供：{s_zh}", Fraction(0), Decimal("0.00"), i.id))
    return out


def _remedy_reviews(incidents: Sequence[IncidentRecord]) -> list[str]:
    out = []
    for flag, attr, _f, _r, _zh, _en, _rzh, remedy_en in _REMEDIES:
        for i in incidents:
            status = remedy_status(i, attr)
            if getattr(i, flag) and status != "done":
                out.append(f"{i.id}: {remedy_en} owed, {REMEDY_STATUS_TEXT[status][1]}")
    return out


def _cap_line(lines: Sequence[CreditLine], policy: CompensationPolicy, fee: Decimal
              ) -> list[CreditLine]:
    capped = sum((x.amount for x in lines if x.kind in CAPPED_KINDS), Decimal("0.00"))
    limit = share_of_fee(fee, policy.cap_percent)
    if capped <= limit:
        return []
    amount = limit - capped
    cap = pct(policy.cap_percent)
    return [CreditLine(
        "cap", None,
        f"cap: availability, interruption and response credits together at most {cap} % "
        f"of the monthly fee ({money_text(capped)} → {money_text(limit)})",
        f"补偿上限：可用性、服务中断与响应时间补偿合计不超过当月服务费的 {cap}%"
        f"（{money_text(capped)} → {money_text(limit)}）",
        Fraction(amount) * 100 / Fraction(fee), amount)]


def _reviews(ics: Sequence[IncidentCredit]) -> list[str]:
    out = []
    for ic in ics:
        inc = ic.incident
        if ic.standard_ms is None:
            out.append(f"{inc.id}: priority {inc.priority} has no respond standard: "
                       "response not assessed")
        if ic.review:
            out.append(f"{inc.id}: {duration_text(ic.data_loss_seconds)} of data lost, past "
                       "the last data-loss tier: the negotiated extra needs manual review")
        if ic.backup_unknown:
            out.append(f"{inc.id}: no backup point is known before it began: data loss "
                       "not assessed from the backup record")
    return out


def assess_credits(fee: Decimal, availabilities: Sequence[Availability],
                   incidents: Sequence[IncidentRecord], policy: CompensationPolicy,
                   now_ms: int, points: Sequence[RecoveryPoint] = (), tz: str = "UTC"
                   ) -> Credits:
    """Every credit line of one customer's month.

    ``availabilities``: the customer's services; ``incidents``: those of the month
    that concern the customer (:func:`incidents_for`); ``points``: the backup record
    (``Report.recovery_points``) data loss is measured against; ``tz``: for instants
    in rule texts.
    """
    services = tuple(service_credit(a, policy) for a in availabilities)
    ics = tuple(incident_credit(i, policy, now_ms, points)
                for i in sorted(incidents, key=lambda i: (i.opened_ms, i.id)))
    lines: list[CreditLine] = (
        [_availability_line(services, fee, policy.interruption_refund)] if services else [])
    lines += _response_lines(ics, policy, fee)
    lines += _cap_line(lines, policy, fee)
    lines += _data_loss_line(ics, policy, fee, tz)
    lines += _remedy_lines([ic.incident for ic in ics], policy, fee)
    total = sum((x.amount for x in lines), Decimal("0.00"))
    return Credits(fee, services, ics, tuple(lines), total, amount_in_words(total),
                   tuple(_reviews(ics) + _remedy_reviews([ic.incident for ic in ics])))


def incidents_for(incidents: Iterable[IncidentRecord], customer: str, services: Iterable[str],
                  start_ms: int, end_ms: int) -> list[IncidentRecord]:
    """Incidents opened in ``[start, end)`` that concern the customer."""
    names = list(services)
    return [i for i in incidents
            if start_ms <= i.opened_ms < end_ms and i.concerns(customer, names)]
