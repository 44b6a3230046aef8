"""A dossier's status as the national portal numbers it, and the sets of statuses the rules name."""

from __future__ import annotations

from enum import IntEnum


class DossierStatus(IntEnum):
    """The national portal's status codes; ``portal_name`` is the code name it uses."""

    RECEIVING = 1  # Mới đăng ký
    NEW = 2  # Được tiếp nhận
    DENIED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    WAITING = 5  # Yêu cầu bổ sung
    PAYING = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    CANCELLED = 7  # Rút hồ sơ
    UNRESOLVED = 8  # Dừng xử lý
    RELEASING = 9  # Đã xử lý xong
    DONE = 10  # Đã trả kết quả

    @property
    def portal_name(self) -> str:
        return self.name.lower()

    @property
    def vietnamese_name(self) -> str:
        return _VIETNAMESE_STATUS_NAMES[self]


_VIETNAMESE_STATUS_NAMES = {
    DossierStatus.RECEIVING: "Mới đăng ký",
    DossierStatus.NEW: "Được tiếp nhận",
    DossierStatus.DENIED: "Không được tiếp nhận",
    DossierStatus.PROCESSING: "Đang xử lý",
    DossierStatus.WAITING: "Yêu cầu bổ sung",
    DossierStatus.PAYING: "Yêu cầu thực hiện nghĩa vụ tài chính",
    DossierStatus.CANCELLED: "Rút hồ sơ",
    DossierStatus.UNRESOLVED: "Dừng xử lý",
    DossierStatus.RELEASING: "Đã xử lý xong",
    DossierStatus.DONE: "Đã trả kết quả",
}

_S = DossierStatus
# Where a dossier is still being worked on, and a step is running.
IN_PROGRESS: frozenset[DossierStatus] = frozenset({_S.NEW, _S.PROCESSING})
# Until these, the citizen may still withdraw: up to the resolution.
WITHDRAWABLE: frozenset[DossierStatus] = frozenset(
    {_S.RECEIVING, _S.NEW, _S.PROCESSING, _S.WAITING, _S.PAYING}
)
# Processing is over: the result (or the rejection) is ready, or handed over.
RESOLVED: frozenset[DossierStatus] = frozenset({_S.RELEASING, _S.DONE})
# Still on someone's desk: every status but the four ends (denied, cancelled, unresolved, done).
OPEN: frozenset[DossierStatus] = WITHDRAWABLE | {_S.RELEASING}
