"""Every message text people receive, in one place, in English and Simplified Chinese: subjects
and bodies of notifications and e-mails.

Pure functions of plain values, so workflows may compose a message (it travels with the change it
announces) and activities may too; nothing else writes message text. Each message carries both
languages; the inbox and the e-mail pick the recipient's (Chinese by default).
"""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

from services.core.labels import label


class Message(NamedTuple):
    subject: str
    body: str
    subject_zh: str
    body_zh: str

    def fields(self) -> dict[str, Any]:
        """As the ``NotificationIn`` fields of the same names."""
        return self._asdict()


def _what(what: str) -> tuple[str, str]:
    return label("deadline_what", what, "en"), label("deadline_what", what, "zh")


def deadline_reminder(what: str, title: str, ref: str, due: date, days_left: int) -> Message:
    en, zh = _what(what)
    d = due.isoformat()
    return Message(
        f"Reminder: {en} due {d} ({days_left} day(s) left) — {title}",
        f"The {en} for “{title}” ({ref}) is due {d}.",
        f"提醒：{zh}将于{d}到期（剩余{days_left}天）——{title}",
        f"“{title}”（{ref}）的{zh}将于{d}到期，请按时办理。",
    )


def deadline_escalation(
    what: str, title: str, ref: str, org_name: str, due: date, days_over: int, level: int
) -> Message:
    en, zh = _what(what)
    d = due.isoformat()
    return Message(
        f"Overdue {days_over} day(s), level {level}: {en} — {title}",
        f"The {en} for “{title}” ({ref}, org {org_name}) was due {d} and is "
        f"{days_over} day(s) overdue. Escalated to level {level}.",
        f"已逾期{days_over}天（{level}级督办）：{zh}——{title}",
        f"{org_name}“{title}”（{ref}）的{zh}应于{d}完成，已逾期{days_over}天，"
        f"现升级为{level}级督办。",
    )


def accountability_reason(what: str, title: str, due: date, days_over: int) -> str:
    en, _ = _what(what)
    return f"{en} for “{title}” {days_over} day(s) overdue (due {due.isoformat()})"


def letter_issued(
    org_name: str, cycle_title: str, items: int, content_hash: str, sign_by: date
) -> Message:
    d, h = sign_by.isoformat(), content_hash[:12]
    return Message(
        f"Responsibility letter to sign by {d} — {org_name}",
        f"The “{cycle_title}” responsibility letter for {org_name} lists {items} item(s). Read "
        f"it and sign (content hash {h}…) by {d}.",
        f"请于{d}前签订责任书——{org_name}",
        f"“{cycle_title}”{org_name}责任书共{items}项责任事项。请阅读并于{d}前签订"
        f"（内容摘要{h}…）。",
    )


def head_taken_over(org_name: str, version: int, owed: str | None, former: str | None) -> Message:
    """To a new head: the org's letter is theirs now, and what they owe on it (``sign``,
    ``acknowledge`` or nothing)."""
    was = f" from {former}" if former else ""
    was_zh = f"（原负责人{former}）" if former else ""
    en = {
        "sign": "Read it and sign it.",
        "acknowledge": f"Version {version} was signed before you took over: read it and "
        "acknowledge it (the same content hash).",
    }.get(owed or "", "")
    zh = {
        "sign": "请阅读并签订。",
        "acknowledge": f"第{version}版已由原负责人签订：请阅读并确认交接（内容摘要不变）。",
    }.get(owed or "", "")
    return Message(
        f"You now head {org_name}: its responsibility letter is yours",
        f"You took over {org_name}{was}; its responsibility letter v{version}, its reminders "
        f"and its children's commitments now come to you. {en}".strip(),
        f"您已接任{org_name}负责人：责任书由您负责",
        f"您已接任{org_name}负责人{was_zh}，第{version}版责任书、相关提醒及下级承诺审批今后"
        f"由您办理。{zh}",
    )


def letter_returned(org_name: str, version: int, reason: str) -> Message:
    return Message(
        f"Letter returned for revision — {org_name}",
        f"The head of {org_name} returned version {version} of the responsibility letter: "
        f"{reason}. Amend its items to reissue it.",
        f"责任书被退回修改——{org_name}",
        f"{org_name}负责人退回了第{version}版责任书，理由：{reason}。请修改责任事项后重新下达。",
    )


def letter_amended(org_name: str, version: int, changed: int, reason: str) -> Message:
    return Message(
        f"Responsibility letter v{version} to sign — {org_name}",
        f"Version {version} of your responsibility letter changes {changed} item(s)"
        f"{': ' + reason if reason else ''}. Read it and sign it again.",
        f"责任书第{version}版待签订——{org_name}",
        f"责任书第{version}版修改了{changed}项责任事项{'：' + reason if reason else ''}。"
        "请阅读后重新签订。",
    )


def commitment_to_review(org_name: str, text: str) -> Message:
    return Message(
        f"Commitment to review — {org_name}", text, f"待审核的公开承诺——{org_name}", text
    )


def commitment_approved(text: str) -> Message:
    return Message("Commitment approved and published", text, "承诺已审核通过并公开", text)


def commitment_returned(reason: str) -> Message:
    return Message("Commitment returned for revision", reason, "承诺被退回修改", reason)


def commitment_resubmitted(text: str) -> Message:
    return Message("Commitment resubmitted", text, "承诺已重新提交", text)


def recheck_due(problem_id: str, title: str, recheck_due: date) -> Message:
    d = recheck_due.isoformat()
    return Message(
        f"Re-check due: did the fix hold? — {title}",
        f"Rectification {problem_id} (“{title}”) was closed; its re-check is due "
        f"{d}. Confirm that the fix held, or reopen it.",
        f"整改“回头看”到期——{title}",
        f"整改事项{problem_id}（“{title}”）已销号，“回头看”应于{d}完成。"
        "请确认整改是否长效，或重新整改。",
    )


def evaluation_rating_reminder(title: str, subjects: int, deadline: date, days: int) -> Message:
    d = deadline.isoformat()
    return Message(
        f"Reminder: {subjects} rating(s) to give by {d} — {title}",
        f"You are asked to rate {subjects} subject(s) in “{title}”. Rating closes {d} "
        f"({days} day(s) left).",
        f"提醒：请于{d}前完成{subjects}项评议——{title}",
        f"“{title}”中您有{subjects}项评议尚未完成，评议将于{d}截止（剩余{days}天）。",
    )


def evaluation_rating_closed(title: str, missing: dict[str, int]) -> Message:
    en = ", ".join(f"{g}: {n}" for g, n in sorted(missing.items())) or "none"
    zh = "，".join(f"{g}：{n}" for g, n in sorted(missing.items())) or "无"
    return Message(
        f"Rating closed — {title}",
        f"Rating of “{title}” is closed; results are ready for calibration. Ballots missing by "
        f"group: {en}.",
        f"评议已截止——{title}",
        f"“{title}”评议已截止，结果待校核。各组未投票数：{zh}。",
    )


def evaluation_debriefing_reminder(title: str, org_name: str, due: date, days: int) -> Message:
    d = due.isoformat()
    return Message(
        f"Reminder: debriefing report due {d} — {org_name}",
        f"Hand in {org_name}'s debriefing report for “{title}” by {d} ({days} day(s) left).",
        f"提醒：述职报告将于{d}截止——{org_name}",
        f"请于{d}前提交{org_name}在“{title}”中的述职报告（剩余{days}天）。",
    )


def achievement_to_confirm(org_name: str, title: str, actual: float, unit: str) -> Message:
    return Message(
        f"Achievement to confirm — {org_name}",
        f"{org_name} reports “{title}” reached its target ({actual:g} {unit}). Check the "
        "evidence and confirm or reject the achievement: only confirmed ones count.",
        f"完成情况待确认——{org_name}",
        f"{org_name}报告“{title}”已达到目标（{actual:g}{unit}）。请核实佐证材料后确认或驳回；"
        "只有经确认的完成情况计入考核。",
    )


def achievement_rejected(title: str, reason: str, may_report: bool) -> Message:
    """``may_report``: the item is still open, so a new report asks again; once decided, the
    achievement simply does not count."""
    then_en = (
        "Report again with the evidence asked for."
        if may_report
        else "The item was decided at its due date: the achievement does not count."
    )
    then_zh = (
        "请补充佐证材料后重新报告。" if may_report else "该事项已到期认定，此项完成情况不计入考核。"
    )
    return Message(
        f"Achievement not confirmed — {title}",
        f"The issuer did not confirm that “{title}” reached its target: {reason}. {then_en}",
        f"完成情况未获确认——{title}",
        f"下达单位未确认“{title}”已达到目标，理由：{reason}。{then_zh}",
    )


def accountability_recorded(kind: str, reason: str, outcome: str) -> Message:
    en, zh = label("accountability", kind), label("accountability", kind, "zh")
    return Message(
        f"Accountability recorded: {en}",
        f"{en}: {reason}{' — ' + outcome if outcome else ''}. You may appeal once, with a "
        "reason, from your page.",
        f"问责记录：{zh}",
        f"{zh}：{reason}{'——' + outcome if outcome else ''}。"
        "如有异议，可在个人页面申诉一次并说明理由。",
    )


def accountability_appealed(kind: str, reason: str) -> Message:
    en, zh = label("accountability", kind), label("accountability", kind, "zh")
    return Message(
        f"Appeal against an accountability record: {en}",
        f"The person concerned appeals: {reason}. Uphold or overturn the record.",
        f"问责申诉：{zh}",
        f"当事人提出申诉：{reason}。请作出维持或撤销的决定。",
    )


def accountability_appeal_decided(kind: str, decision: str, reason: str) -> Message:
    en, zh = label("accountability", kind), label("accountability", kind, "zh")
    d_en, d_zh = label("appeal", decision), label("appeal", decision, "zh")
    return Message(
        f"Your appeal was decided: {d_en} — {en}",
        f"{d_en}: {reason}",
        f"申诉处理结果：{d_zh}——{zh}",
        f"{d_zh}：{reason}",
    )


def rectification_handed_back(title: str, problem_id: str, leaver: str, left_on: date) -> Message:
    d = left_on.isoformat()
    return Message(
        f"Rectification handed back to you — {title}",
        f"{leaver}, who owned rectification {problem_id} “{title}”, left on {d}. It is yours "
        "now, with its due date and history: carry it on or assign it to someone else.",
        f"整改事项转交给您——{title}",
        f"整改事项{problem_id}“{title}”的责任人{leaver}已于{d}离任，现由您负责（期限与记录不变），"
        "请继续推进或另行指派。",
    )
