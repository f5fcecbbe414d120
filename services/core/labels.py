"""User-facing labels in English and Simplified Chinese for the domain's codes.

Codes stay generic English in the data and the API; exports and UIs pick a language here."""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]


LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "category": {
        "ideology": ("Ideology", "思想建设"),
        "organization": ("Organization", "组织建设"),
        "conduct": ("Conduct", "作风建设"),
        "integrity": ("Integrity", "廉政建设"),
        "institutions": ("Institutions", "制度建设"),
    },
    "responsibility": {
        "collective": ("Collective", "集体责任"),
        "primary": ("Primary", "主体责任"),
        "direct": ("Direct", "直接责任"),
        "specific": ("Specific", "具体责任"),
    },
    "source": {
        "inspection": ("Inspection", "巡察检查"),
        "evaluation": ("Evaluation", "考核评议"),
        "indicator": ("Missed indicator", "指标未完成"),
        "supervision": ("Public supervision", "群众监督"),
        "self_check": ("Self-check", "自查自纠"),
        "audit": ("Audit", "审计"),
    },
    "severity": {
        "minor": ("Minor", "一般"),
        "major": ("Major", "较重"),
        "critical": ("Critical", "严重"),
    },
    "state": {
        "identified": ("Identified", "已发现"),
        "confirmed": ("Confirmed", "已确认"),
        "assigned": ("Assigned", "已交办"),
        "plan_submitted": ("Plan submitted", "方案待审"),
        "in_progress": ("In progress", "整改中"),
        "completion_submitted": ("Completion submitted", "待验收"),
        "closed": ("Closed", "已销号"),
        "dismissed": ("Dismissed", "不予立项"),
        # letters, items, commitments
        "issued": ("Issued", "已下达"),
        "signed": ("Signed", "已签订"),
        "returned": ("Returned", "已退回"),
        "pending": ("Pending", "未开始"),
        "achieved": ("Achieved", "已完成"),
        "missed": ("Missed", "未完成"),
        "submitted": ("Submitted", "已提交"),
        "approved": ("Approved", "已公开"),
    },
    "accountability": {
        "reminder_talk": ("Reminder talk", "提醒谈话"),
        "written_inquiry": ("Written inquiry", "书面函询"),
        "public_criticism": ("Public criticism", "通报批评"),
    },
    "boolean": {"true": ("Yes", "是"), "false": ("No", "否")},
}


def label(kind: str, code: str | None, lang: Lang = "en") -> str:
    """The label of ``code`` in ``lang``; an unknown code is shown as itself."""
    if code is None:
        return ""
    pair = LABELS.get(kind, {}).get(code)
    if pair is None:
        return code
    return pair[0] if lang == "en" else pair[1]
