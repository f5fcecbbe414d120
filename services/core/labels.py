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
        "return": ("Return for revision", "退回修改"),
    },
    # The console's own words: one place for every user-facing text.
    "ui": {
        "app": ("Duty ledger", "责任清单与整改台账"),
        "signin": ("Sign in", "登录"),
        "signout": ("Sign out", "退出"),
        "token": ("Access token", "访问令牌"),
        "demo_people": ("Demo people (demo data only)", "演示人员（仅演示数据）"),
        "signin_failed": ("That token is not valid.", "令牌无效。"),
        "signin_throttled": (
            "Too many sign-in attempts from here; wait a minute.",
            "登录尝试过于频繁，请稍候再试。",
        ),
        "my_work": ("My work", "我的工作"),
        "letters_to_sign": ("Letters waiting for your signature", "待我签订的责任书"),
        "my_items": ("Items assigned to you", "分配给我的责任事项"),
        "my_problems": ("Rectifications you own", "我负责的整改"),
        "to_act_on": ("Rectifications waiting for your decision", "待我处理的整改"),
        "notifications": ("Notifications", "通知"),
        "none": ("Nothing here.", "暂无。"),
        "letter": ("Responsibility letter", "责任书"),
        "org": ("Organization", "组织"),
        "head": ("Head", "负责人"),
        "version": ("Version", "版本"),
        "state": ("State", "状态"),
        "content_hash": ("Content hash", "内容摘要"),
        "items": ("Items", "责任事项"),
        "title": ("Title", "名称"),
        "responsibility": ("Responsibility", "责任类型"),
        "indicator": ("Indicator", "量化指标"),
        "due": ("Due", "完成时限"),
        "assignee": ("Assignee", "责任人"),
        "actual": ("Actual", "实际完成"),
        "reason": ("Reason", "理由"),
        "problem": ("Rectification", "整改事项"),
        "severity": ("Severity", "严重程度"),
        "source": ("Source", "问题来源"),
        "category": ("Aspect", "所属方面"),
        "owner": ("Owner", "整改责任人"),
        "overdue_level": ("Overdue level", "逾期等级"),
        "timeline": ("Timeline", "处理记录"),
        "actions": ("What you can do now", "当前可办理"),
        "no_actions": ("Nothing for you to do now.", "当前无需您办理。"),
        "refused": ("Not done", "未办理"),
        "done": ("Done.", "已办理。"),
        "language": ("中文", "English"),
        "cycle": ("Cycle", "年度"),
        "description": ("Description", "问题描述"),
        "when": ("When", "时间"),
        "who": ("Who", "办理人"),
        "what": ("What", "事项"),
        # form fields, by the API's body names
        "owner_person_id": (
            "Owner (person id; default: the org's head)",
            "整改责任人（人员编号，默认为组织负责人）",
        ),
        "comment": ("Comment", "意见"),
        "measures": ("Measures", "整改措施"),
        "target_date": ("Target date", "计划完成日期"),
        "percent": ("Percent done", "完成进度（%）"),
        "note": ("Note", "情况说明"),
        "evidence": ("Evidence (file)", "佐证材料（文件）"),
        "new_due": ("New due date", "申请延期至"),
        "summary": ("Summary", "整改情况总结"),
        "result": ("Result", "验收结论"),
        "held": ("Did the fix hold?", "整改是否长效"),
        "item": ("Item", "责任事项"),
        "public_board": ("Public commitments", "公开承诺"),
        "cycles": ("Annual cycles", "年度责任制"),
        "launch": ("Launch the year", "启动年度责任制"),
        "launched": ("Launched", "启动时间"),
        "root": ("Root org", "起始组织"),
        "year": ("Year", "年度"),
        "plan_file": (
            "Plan (JSON; empty: the shipped default)",
            "责任清单方案（JSON，留空使用默认方案）",
        ),
        "cascade": ("Letters, level by level", "逐级签订情况"),
        "level": ("Level", "层级"),
        "orgs": ("Orgs", "组织数"),
        "letters_issued": ("Issued", "已下达"),
        "letters_signed": ("Signed", "已签订"),
        "signed": ("Signed", "已签订"),
        "waiting": ("Waiting for a signature", "待签订"),
        "returned": ("Returned", "已退回"),
        "unissued": ("Not issued yet", "未下达"),
        "commitments_h": ("Commitments", "公开承诺"),
        "problems_h": ("Rectifications", "整改事项"),
    },
}


def label(kind: str, code: str | None, lang: Lang = "en") -> str:
    """The label of ``code`` in ``lang``; an unknown code is shown as itself."""
    if code is None:
        return ""
    pair = LABELS.get(kind, {}).get(code)
    if pair is None:
        return code
    return pair[0] if lang == "en" else pair[1]
