"""The zh-CN names of the reports' enumerations, in one place (governance's are its own, read
from there)."""

from __future__ import annotations

from api.db.models.reports import SERVICE_TYPES
from api.services.governance.common import CATEGORY_LABELS as CONCERN_CATEGORY_LABELS
from api.services.governance.common import (
    DECISION_METHOD_LABELS,
    FOLLOW_UP_STATUS_LABELS,
    MEETING_KIND_LABELS,
    MEETING_STATUS_LABELS,
    VERDICT_LABELS,
)
from api.services.governance.common import STATUS_LABELS as CONCERN_STATUS_LABELS

# what funders' templates count activities by
SERVICE_TYPE_LABELS: dict[str, str] = {
    "community": "社区活动",
    "group": "小组活动",
    "casework": "个案",
    "volunteering": "志愿服务",
    "deliberation": "议事协商",
    "training": "培训",
    "other": "其他",
}
assert tuple(SERVICE_TYPE_LABELS) == SERVICE_TYPES

__all__ = [
    "CONCERN_CATEGORY_LABELS",
    "CONCERN_STATUS_LABELS",
    "DECISION_METHOD_LABELS",
    "FOLLOW_UP_STATUS_LABELS",
    "MEETING_KIND_LABELS",
    "MEETING_STATUS_LABELS",
    "SERVICE_TYPE_LABELS",
    "VERDICT_LABELS",
]
