"""User-facing labels in English and Simplified Chinese for the domain's codes.

Codes stay generic English in the data and the API; exports and UIs pick a language here."""

from __future__ import annotations

from typing import Literal

from services.core.words import UI

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
        "evaluation_poor": ("Graded poor in an evaluation", "考核评价为差"),
        "admonishment": ("Admonishment", "诫勉"),
        "organizational_adjustment": ("Organizational adjustment", "组织调整"),
        "disciplinary_referral": ("Referred for discipline", "移送纪检监察机关"),
    },
    "appeal": {
        "pending": ("Appeal pending", "申诉待处理"),
        "upheld": ("Record upheld", "维持原问责"),
        "overturned": ("Record overturned", "撤销问责"),
    },
    "confirmation": {
        "confirmed": ("Achievement confirmed", "完成情况已确认"),
        "rejected": ("Achievement rejected", "完成情况未获确认"),
    },
    "boolean": {"true": ("Yes", "是"), "false": ("No", "否")},
    "cycle_state": {"running": ("Running", "进行中"), "closed": ("Closed", "已结束")},
    "action": {
        "flag": ("Flagged", "发现问题"),
        "confirm": ("Confirm", "确认立项"),
        "dismiss": ("Dismiss", "不予立项"),
        "assign": ("Hand over", "转交"),
        "plan": ("Submit plan", "提交整改方案"),
        "approve-plan": ("Approve plan", "批准方案"),
        "return-plan": ("Return plan", "退回方案"),
        "progress": ("Report progress", "报告进展"),
        "extension": ("Ask for more time", "申请延期"),
        "approve-extension": ("Approve extension", "批准延期"),
        "deny-extension": ("Deny extension", "驳回延期"),
        "completion": ("Hand in completion", "提交整改完成"),
        "verify": ("Verify", "验收"),
        "reopen": ("Reopen", "重新整改"),
        "recheck": ("Re-check", "回头看"),
        "sign": ("Sign", "签订"),
        "acknowledge": ("Acknowledge the handover", "确认交接"),
        "carried_keep": ("Keep in this letter", "纳入本年度"),
        "carried_drop": ("Drop", "不再纳入"),
        "return": ("Return for revision", "退回修改"),
        "amend": ("Save as a new version", "保存为新版本"),
        "pledge": ("Make the pledge", "作出承诺"),
        "approve": ("Approve and publish", "审核通过并公开"),
        "resubmit": ("Resubmit", "重新提交"),
    },
    # an item of a letter: its own words, not a rectification's
    "item_state": {
        "pending": ("Not started", "未开始"),
        "in_progress": ("Under way", "进行中"),
        "achieved": ("Achieved", "已完成"),
        "missed": ("Missed", "未完成"),
    },
    # what a deadline is for, in reminders and escalations
    "deadline_what": {
        "signature": ("signature", "责任书签订"),
        "acknowledgement": ("handover acknowledgement", "责任书交接确认"),
        "commitments": ("commitments", "公开承诺"),
        "items": ("items", "责任事项"),
        "rectification": ("rectification", "整改"),
    },
    "verdict": {"pass": ("Passed", "验收通过"), "fail": ("Not passed", "验收不通过")},
    "phase": {
        "open": ("Not open yet", "未开始"),
        "rating": ("Rating", "评议中"),
        "calibration": ("Calibration", "结果校核中"),
        "published": ("Published", "已公布"),
        "closed": ("Closed", "已结束"),
    },
    "evaluation_kind": {
        "midyear": ("Mid-year", "年中考核"),
        "yearend": ("Year-end", "年终考核"),
        "adhoc": ("Ad hoc", "专项考核"),
    },
    "rater_group": {
        "superior": ("Superior committee", "上级党组织"),
        "peers": ("Peers", "同级单位"),
        "members": ("Members", "党员群众"),
        "public": ("The public", "社会公众"),
        "external": ("External body", "第三方机构"),
    },
    "grade": {
        "excellent": ("Excellent", "好"),
        "good": ("Good", "较好"),
        "fair": ("Fair", "一般"),
        "poor": ("Poor", "差"),
    },
    "debriefing_rating": {
        "excellent": ("Excellent", "好"),
        "good": ("Good", "较好"),
        "fair": ("Fair", "一般"),
        "poor": ("Poor", "差"),
    },
    # an org's letter in the cycle's tree
    "tree_state": {
        "unissued": ("Not issued yet", "未下达"),
        "issued": ("Waiting for a signature", "待签订"),
        "signed": ("Signed", "已签订"),
        "returned": ("Returned", "已退回"),
    },
    # a public report, as its receipt tells it
    "report_status": {
        "new": ("Received, not yet reviewed", "已收到，待核查"),
        "flagged": ("Taken up as a rectification", "已立项整改"),
        "dismissed": ("Not taken up", "不予立项"),
    },
    # what happened to a letter, in its history
    "letter_event": {
        "issue": ("Issued", "下达"),
        "sign": ("Signed", "签订"),
        "return": ("Returned for revision", "退回修改"),
        "amend": ("Amended", "修改"),
        "progress": ("Progress reported", "报告进展"),
        "decide": ("Items decided", "认定完成情况"),
        "achievement_confirmed": ("Achievement confirmed", "确认完成情况"),
        "achievement_rejected": ("Achievement rejected", "驳回完成情况"),
        "close": ("Closed", "结束"),
        "parties_change": ("Head or issuer changed", "负责人变更"),
        "acknowledge": ("Handover acknowledged", "交接确认"),
        "carried_keep": ("Last year's missed item kept", "上年未完成事项纳入"),
        "carried_drop": ("Last year's missed item dropped", "上年未完成事项不再纳入"),
    },
    "ui": UI,  # the console's own words (services/core/words.py)
}


def label(kind: str, code: str | None, lang: Lang = "en") -> str:
    """The label of ``code`` in ``lang``; an unknown code is shown as itself."""
    if code is None:
        return ""
    pair = LABELS.get(kind, {}).get(code)
    if pair is None:
        return code
    return pair[0] if lang == "en" else pair[1]
