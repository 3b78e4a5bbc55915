"""The releasing step: build and archive the pacs.002, record Released, notify subscribers.

A cancelled payment's liquidity is freed here too (idempotent: the cancellation may have
died before doing it)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import Payment, TxSts
from chalicelib.pipeline import faults, reports
from chalicelib.pipeline.liquidity import Liquidity
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.ports import Archive, Notifier
from chalicelib.pipeline.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Releasing:
    uow: UnitOfWork
    archive: Archive
    notifier: Notifier
    liquidity: Liquidity
    fault_injection: str = ""

    def __call__(self, msg: StepMessage) -> None:
        def step(payment: Payment) -> bool:
            if payment.is_released:
                return False
            if payment.tx_sts is TxSts.CANC:
                self.liquidity.free_payment(payment)
            key, digest = self.archive.put("outbound", reports.pacs002_released(payment))
            payment.release(report_key=key, report_sha256=digest, report_msg_id=reports.report_msg_id(payment.id))
            return True

        payment, recorded = self.uow.record(
            msg.transaction_id,
            step,
            after_save=lambda: faults.check(self.fault_injection, "releasing.after_append", msg.receive_count),
        )
        if not recorded and msg.receive_count == 1:
            return  # a redundant trigger of a release another delivery made (and announces)
        self.notifier.released(
            str(payment.id),
            payment.tx_sts.value,
            payment.owner,
            {
                "transaction_id": str(payment.id),
                "region_id": payment.region_id,
                "tx_sts": payment.tx_sts.value,
                "reason_code": payment.reason_code,
                "report_msg_id": payment.report_msg_id,
            },
        )
