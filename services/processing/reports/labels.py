"""What the reports' columns and indicators are called, in Vietnamese (the default) and English."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Language = Literal["vi", "en"]

TITLES: Mapping[str, Mapping[Language, str]] = {
    "progress": {
        "vi": "Biểu II.06a: Tình hình, kết quả giải quyết thủ tục hành chính",
        "en": "Form II.06a: progress and results of administrative procedures",
    },
    "indicators": {
        "vi": "Chỉ số đánh giá theo Quyết định 766/QĐ-TTg",
        "en": "Decision 766/QĐ-TTg indicators",
    },
    "weeks": {"vi": "Tỷ lệ giải quyết đúng hạn theo tuần", "en": "On-time rate by week"},
    "ranking": {"vi": "Xếp hạng đơn vị theo tỷ lệ đúng hạn", "en": "Units ranked by on-time rate"},
    "period": {"vi": "Kỳ báo cáo: từ {start} đến hết {last}", "en": "Period: {start} to {last} inclusive"},
    "total": {"vi": "Tổng cộng", "en": "Total"},
    "not_available": {"vi": "Không có", "en": "N/A"},
    "week": {"vi": "Tuần từ {day}", "en": "Week of {day}"},
}

GROUPINGS: Mapping[str, Mapping[Language, str]] = {
    "agency": {"vi": "Cơ quan", "en": "Agency"},
    "unit": {"vi": "Đơn vị", "en": "Unit"},
    "procedure": {"vi": "Thủ tục", "en": "Procedure"},
    "all": {"vi": "Phạm vi", "en": "Scope"},
}

# Biểu II.06a's columns, in the form's order.
PROGRESS_COLUMNS: tuple[tuple[str, Mapping[Language, str]], ...] = (
    ("received", {"vi": "Số hồ sơ nhận giải quyết: tổng số", "en": "Received: total"}),
    ("received_online", {"vi": "Mới tiếp nhận trực tuyến", "en": "Received online"}),
    (
        "received_in_person",
        {"vi": "Mới tiếp nhận trực tiếp, qua bưu chính", "en": "Received in person or by post"},
    ),
    ("carried_over", {"vi": "Từ kỳ trước chuyển qua", "en": "Carried over"}),
    ("resolved", {"vi": "Đã giải quyết: tổng số", "en": "Resolved: total"}),
    ("early", {"vi": "Trả trước hạn", "en": "Early"}),
    ("on_time", {"vi": "Trả đúng hạn", "en": "On time"}),
    ("late", {"vi": "Trả quá hạn", "en": "Late"}),
    ("in_progress", {"vi": "Đang giải quyết: tổng số", "en": "In progress: total"}),
    ("within_time", {"vi": "Chưa đến hạn", "en": "Within time"}),
    ("overdue", {"vi": "Quá hạn", "en": "Overdue"}),
    ("ended", {"vi": "Rút hồ sơ, dừng xử lý", "en": "Withdrawn or stopped"}),
)

INDICATORS: Mapping[str, Mapping[Language, str]] = {
    "2.1": {"vi": "2.1 Tỷ lệ hồ sơ giải quyết đúng hạn", "en": "2.1 On-time rate"},
    "2.2": {
        "vi": "2.2 Thời gian giải quyết trung bình (ngày làm việc)",
        "en": "2.2 Average resolution time (working days)",
    },
    "3.3": {"vi": "3.3 Tỷ lệ hồ sơ trực tuyến", "en": "3.3 Online share"},
    "4.1": {"vi": "4.1 Tỷ lệ cấp kết quả điện tử", "en": "4.1 Share with an electronic result"},
    "4.2": {"vi": "4.2 Tỷ lệ số hóa hồ sơ", "en": "4.2 Share digitised"},
    "4.3": {
        "vi": "4.3 Tỷ lệ khai thác, sử dụng lại dữ liệu số hóa",
        "en": "4.3 Share reusing earlier documents",
    },
    "satisfaction": {"vi": "Mức độ hài lòng", "en": "Satisfaction"},
}

# What each indicator divides, for a reader who checks the figure.
INDICATOR_TERMS: Mapping[str, Mapping[Language, tuple[str, str]]] = {
    "2.1": {
        "vi": ("Giải quyết trước, đúng hạn + đang giải quyết trong hạn", "Đã giải quyết + đang giải quyết"),
        "en": ("Resolved early or on time + in progress within time", "Resolved + in progress"),
    },
    "2.2": {
        "vi": ("Tổng số ngày làm việc giải quyết (trừ thời gian chờ bổ sung)", "Số hồ sơ đã giải quyết"),
        "en": ("Working days to resolve, supplement pauses excluded", "Dossiers resolved"),
    },
    "3.3": {"vi": ("Tiếp nhận trực tuyến", "Mới tiếp nhận"), "en": ("Received online", "Received")},
    "4.1": {
        "vi": ("Kết quả có tệp điện tử", "Hồ sơ được phê duyệt"),
        "en": ("Results with an electronic file", "Dossiers approved"),
    },
    "4.2": {
        "vi": ("Mọi thành phần có bản điện tử", "Mới tiếp nhận"),
        "en": ("Every document held electronically", "Received"),
    },
    "4.3": {
        "vi": ("Có thành phần sử dụng lại", "Mới tiếp nhận"),
        "en": ("With a reused document", "Received"),
    },
    "satisfaction": {
        "vi": ("Rất hài lòng + hài lòng", "Số đánh giá của hồ sơ đã giải quyết"),
        "en": ("Very satisfied + satisfied", "Ratings of the dossiers resolved"),
    },
}

INDICATOR_HEADINGS: Mapping[str, Mapping[Language, str]] = {
    "indicator": {"vi": "Chỉ số", "en": "Indicator"},
    "value": {"vi": "Giá trị", "en": "Value"},
    "unit": {"vi": "Đơn vị tính", "en": "Unit"},
    "numerator": {"vi": "Tử số", "en": "Numerator"},
    "numerator_is": {"vi": "Tử số là", "en": "Numerator counts"},
    "denominator": {"vi": "Mẫu số", "en": "Denominator"},
    "denominator_is": {"vi": "Mẫu số là", "en": "Denominator counts"},
    "percent": {"vi": "%", "en": "%"},
    "days": {"vi": "ngày làm việc", "en": "working days"},
    "rate": {"vi": "Tỷ lệ đúng hạn (%)", "en": "On-time rate (%)"},
    "rank": {"vi": "Hạng", "en": "Rank"},
    "counted": {"vi": "Số hồ sơ tính", "en": "Dossiers counted"},
    "on_time_count": {"vi": "Trước, đúng hạn và trong hạn", "en": "Early, on time or within time"},
}


def percent_text(value: float | None, language: Language) -> str:
    """``85,5 %`` in Vietnamese, ``85.5%`` in English, the N/A label without a value."""
    if value is None:
        return TITLES["not_available"][language]
    shown = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{shown.replace('.', ',')} %" if language == "vi" else f"{shown}%"
