"""WeChat's answers to a subscribe message, in words staff read (see shared/WECHAT.md): why Mrs
Chen got no message, without looking an error code up."""

from __future__ import annotations

# errcode → what it means for the resident's message
WECHAT_ERRORS: dict[int, str] = {
    -1: "微信系统繁忙，稍后会重试",
    40001: "接口凭证失效，已重新获取后重试",
    40003: "收件人的微信账号无效",
    40014: "接口凭证无效，已重新获取后重试",
    40037: "消息模板编号有误",
    41030: "小程序内的跳转页面不存在",
    42001: "接口凭证已过期，已重新获取后重试",
    43101: "用户未授权或次数已用完",
    45009: "今天的发送次数已达上限",
    45011: "发送太频繁，稍后会重试",
    47003: "消息内容不符合模板字段的要求",
}

STATUS_LABELS: dict[str, str] = {
    "pending": "等待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "发送失败",
    "no_credit": "未授权或次数已用完",
    "cancelled": "已取消",
}


def explain(status: str, errcode: int | None, error: str | None) -> str:
    """The last failure of a push in plain words ("" when nothing went wrong)."""
    if errcode is not None:
        return WECHAT_ERRORS.get(errcode, f"微信返回错误（代码 {errcode}）")
    if status == "no_credit":
        return "用户未授权或次数已用完（本地记录已无可用次数，没有调用微信）"
    if error:
        if error.startswith("template mapping"):
            return "消息模板的字段配置有误，无法生成消息"
        return "连不上微信服务器，稍后会重试" if status == "pending" else "连不上微信服务器"
    return ""
