"""The mapping file (--mapping MAPPING.toml, see examples/crm_mapping.toml): which column holds each
field, the CRM's stage and status words, the columns of stage dates; and the headers recognised without one."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from rules.funnel import Funnel, Stage

from .read import label

# The fields a mapping file can name, and the headers recognised without one (first match wins).
FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("customer", "客户名称", "客户", "客户名", "公司名称", "公司"),
    "owner": ("owner", "负责人", "销售", "销售人员", "所属销售", "跟进人"),
    "amount": ("amount", "金额", "预计金额", "商机金额", "合同金额"),
    "stage": ("stage", "阶段", "销售阶段", "商机阶段"),
    "contact": ("contact", "联系人", "联系人姓名"),
    "title": ("title", "职位", "职务", "联系人职位"),
    "phone": ("phone", "电话", "手机", "联系电话", "手机号"),
    "created": ("created", "created_at", "创建时间", "创建日期"),
    "stage_entered": ("stage_entered", "stage_entered_at", "阶段更新时间", "阶段变更时间", "进入阶段时间"),
    "closed": ("closed", "closed_at", "关闭时间", "关闭日期", "成交日期", "结单日期"),
    "status": ("status", "状态", "商机状态"),
    "lost_reason": ("lost_reason", "输单原因", "丢单原因"),
}
STATUS_WORDS = {
    "open": ("open", "进行中", "跟进中", "未关闭", "active", "in progress"),
    "won": ("won", "win", "赢单", "赢", "已赢单", "成交", "已成交", "签约", "已签约", "closed won"),
    "lost": ("lost", "lose", "输单", "输", "已输单", "丢单", "失败", "closed lost"),
}


class MappingError(ValueError):
    """The mapping file cannot be used; the message names the file, the place and the fix."""


@dataclass
class Mapping:
    """Which column holds each field, the CRM's stage and status words, the columns of stage dates."""
    columns: dict[str, str] = field(default_factory=dict)  # field -> column header
    stages: dict[str, tuple[Stage, str | None]] = field(default_factory=dict)  # CRM word -> (stage, won|lost)
    stage_dates: dict[str, str] = field(default_factory=dict)  # our stage key -> column header
    status: dict[str, str] = field(default_factory=dict)  # CRM word -> open|won|lost
    encoding: str | None = None
    amount_unit: int = 1
    path: str = ""


def _stage_list(funnel: Funnel) -> str:
    return ", ".join(f"{s.name}({s.key})" for s in funnel.stages)


def load_mapping(path: str, funnel: Funnel) -> Mapping:
    p = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise MappingError(f"{p}: file not found") from None
    except UnicodeDecodeError:
        raise MappingError(f"{p}: not UTF-8. Fix: save the mapping file as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise MappingError(f"{p}: not valid TOML ({e}). Fix: correct the syntax at that line") from None
    m = Mapping(path=p)
    columns = dict(raw.get("columns", {}))
    tables = {"columns", "stages", "stage_dates", "status"}
    for k, v in raw.items():  # fields may also be written at the top level
        if k in tables or k in ("encoding", "amount_unit"):
            continue
        if k in FIELDS:
            columns.setdefault(k, v)
        else:
            raise MappingError(f"{p}: unknown key '{k}'. Fix: use [columns] with {', '.join(FIELDS)}, "
                               f"and the tables [stages], [stage_dates], [status]")
    for k, v in columns.items():
        if k not in FIELDS:
            raise MappingError(f"{p}: [columns]: unknown field '{k}'. Fix: use one of {', '.join(FIELDS)}")
        if not isinstance(v, str) or not v.strip():
            raise MappingError(f"{p}: [columns]: {k} must be a column header (text), got {v!r}")
        m.columns[k] = v.strip()
    for k in ("customer", "owner"):
        if k not in m.columns:
            raise MappingError(f"{p}: [columns]: '{k}' is required. Fix: add {k} = \"<its column header>\"")
    for crm, ours in raw.get("stages", {}).items():
        if not isinstance(ours, str):
            raise MappingError(f"{p}: [stages]: \"{crm}\" must map to a stage (text), got {ours!r}")
        stage = funnel.find_stage(ours)
        if stage is not None:
            m.stages[label(crm)] = (stage, None)
        elif label(ours) in ("won", "lost"):
            m.stages[label(crm)] = (funnel.closing, label(ours))
        else:
            raise MappingError(f"{p}: [stages]: \"{crm}\" = \"{ours}\": no such stage. Fix: use one of "
                               f"{_stage_list(funnel)} (key, name or alias), or \"won\" / \"lost\"")
    for ours, column in raw.get("stage_dates", {}).items():
        stage = funnel.find_stage(str(ours))
        if stage is None:
            raise MappingError(f"{p}: [stage_dates]: no stage '{ours}'. Fix: use one of {_stage_list(funnel)}")
        if not isinstance(column, str) or not column.strip():
            raise MappingError(f"{p}: [stage_dates]: {ours} must be a column header (text), got {column!r}")
        m.stage_dates[stage.key] = column.strip()
    for crm, ours in raw.get("status", {}).items():
        if label(ours) not in STATUS_WORDS:
            raise MappingError(f"{p}: [status]: \"{crm}\" = {ours!r}. Fix: map it to \"open\", \"won\" or \"lost\"")
        m.status[label(crm)] = label(ours)
    enc = raw.get("encoding")
    if enc is not None:
        try:
            "".encode(enc)
        except (LookupError, TypeError):
            raise MappingError(f"{p}: encoding = {enc!r} is not an encoding. Fix: e.g. \"gbk\" or \"utf-8\"") from None
        m.encoding = enc
    unit = raw.get("amount_unit", 1)
    if not isinstance(unit, int) or isinstance(unit, bool) or unit <= 0:
        raise MappingError(f"{p}: amount_unit = {unit!r} must be a positive whole number (e.g. 10000 for 万元)")
    m.amount_unit = unit
    return m


def pick_columns(labels: list[str]) -> dict[str, int]:
    """field -> column index, from the recognised headers (without a mapping file)."""
    index: dict[str, int] = {}
    for i, lab in enumerate(labels):
        index.setdefault(lab, i)
    out = {}
    for f, names in FIELDS.items():
        for name in names:
            if label(name) in index:
                out[f] = index[label(name)]
                break
    return out
