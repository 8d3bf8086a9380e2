"""What an import did: counts, the rows created, updated and rejected (with the reason), as a summary
for the terminal and, with --report FILE, as a CSV of every row."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field


@dataclass
class Report:
    kind: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int | None, str]] = field(default_factory=list)  # (row number, reason)
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (row, "created"|"updated", what)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    rows: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> list[str]:
        return [f"第 {n} 行: {reason}" if n else reason for n, reason in self.rejected]

    def reject(self, row: int | None, reason: str) -> None:
        self.rejected.append((row, reason))

    def summary(self, show: int = 20) -> str:
        head = "(试运行, 未写入) " if self.dry_run else ""
        lines = [f"{head}{self.kind}: 新建 {self.created}, 更新 {self.updated}, 未变 {self.unchanged}, "
                 f"拒绝 {len(self.rejected)}"]
        lines += [f"  注意: {n}" for n in self.notes]
        verb = {"created": "将新建" if self.dry_run else "新建", "updated": "将更新" if self.dry_run else "更新"}
        for outcome in ("created", "updated"):
            items = [(n, what) for n, o, what in self.changes if o == outcome]
            lines += [f"  第 {n} 行 {verb[outcome]}: {what}" for n, what in items[:show]]
            if len(items) > show:
                lines.append(f"  … {verb[outcome]}的还有 {len(items) - show} 行 (--report FILE 写出全部)")
        errors = self.errors
        lines += [f"  {e}" for e in errors[:50]]
        if len(errors) > 50:
            lines.append(f"  … 还有 {len(errors) - 50} 条 (--report FILE 写出全部)")
        return "\n".join(lines)

    def write_csv(self, path: str) -> None:
        """Every created, updated and rejected row: 行号,结果,说明 (UTF-8 with BOM, so Excel opens it)."""
        names = {"created": "新建", "updated": "更新", "rejected": "拒绝"}
        items = [(n, "created" if o == "created" else "updated", what) for n, o, what in self.changes]
        items += [(n or 0, "rejected", reason) for n, reason in self.rejected]
        items.sort(key=lambda x: x[0])
        with open(path, "w", newline="", encoding="utf-8-sig") as f:
            w = csv.writer(f)
            w.writerow(["行号", "结果", "说明"])
            for n, o, what in items:
                w.writerow([n or "", names[o], what])
