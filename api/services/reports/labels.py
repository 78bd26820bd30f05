"""The zh-CN names of the reports' enumerations, in one place."""

from __future__ import annotations

from api.db.models.reports import SERVICE_TYPES

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
