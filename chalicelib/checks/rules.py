"""The stateless business rules, each a small named function with its ISO reason code.

A rule reads the typed ``CreditTransfer`` (its group header and its ``Transaction``s) and a
``Context`` (settings, reference date, the transactions, the sanctions screening), and says
``ok(...)`` or ``fail(...)`` (``verdicts.py``); ``@rule("CODE")`` registers it in RULES order
under its function name with its reason code, and calling the registered rule gives one
``Verdict`` for the whole message; a failure names the transaction (``tx 2``) when there are
several. Narratives are short and carry no payment data beyond what locates the fault: an
agent's BIC or a currency code, never an account number or a name.

Reason codes (ISO ExternalStatusReason1Code), and why:
- RC01 BankIdentifierIncorrect ("code has an incorrect format"): a malformed agent BIC.
- RC08 InvalidClearingSystemMemberIdentifier: a US ABA routing number (ClrSysId USABA)
  whose check digit is wrong.
- AGNT IncorrectAgent ("agent in the payment workflow is incorrect"): the BAH sender or
  receiver is not the Instructing / Instructed Agent (CBPR+ usage rule). The BICs are
  well-formed (RC01 would say otherwise), the agent is just not the right one. Also an
  instructing agent the sending tenant may not act for (``Settings.tenant_agents``): the
  agent is incorrect for this sender. Not RC01 (the BIC may be well-formed) nor AG01
  TransactionForbidden, which the list defines by the type of account.
- FF01 InvalidFileFormat: BAH MsgDefIdr or BizMsgIdr disagreeing with the Document, and a
  UETR that is not a UUID v4 (the .08/.09 XSD pattern refuses it with FF01 too): these are
  defects of the business message's form, answered as the intake answers form defects.
- AM19 InvalidGroupNumberOfTransactions / AM16 InvalidGroupControlSum: NbOfTxs, CtrlSum and
  TtlIntrBkSttlmAmt all sit in GrpHdr; the code list keeps AM18 / AM10 for when the level
  cannot be told apart, which in a pacs.008 it always can.
- AC01 IncorrectAccountNumber ("format of the account number is not correct"): an IBAN
  whose check digits, length for its country or BBAN structure are wrong.
- AM11 InvalidTransactionCurrency: a code that is not a current ISO 4217 code.
- AM03 NotAllowedCurrency ("non processable currency"): a real ISO 4217 code that is not
  money to settle in (metals, XTS, XXX, units of account, fund codes) or not on the list.
- CH20 DecimalPointsNotCompatibleWithCurrency: more decimals than the currency's minor unit.
- AM01 ZeroAmount for a zero amount; AM12 InvalidAmount for a missing or unreadable one.
- AM02 NotAllowedAmount above the maximum; AM06 TooLowAmount below the minimum.
- DT01 InvalidDate ("wrong or missing settlement date"): IntrBkSttlmDt outside the window.
- BE19 InvalidChargeBearerCode: ChrgBr not allowed (e.g. SLEV in CBPR+).
- NARR: more transactions than one payment can carry yet (the narrative says so).
- RR04 RegulatoryReason: a sanctions list or embargo hit (``sanctions.py``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from chalicelib.domain.models import CreditTransfer

from . import sanctions

# The registry first; then the rule modules, in RULES order (header before transactions:
# importing a module registers its rules); the sanctions rule, defined below, comes last.
from .registry import RULES as RULES
from .registry import Context as Context
from .registry import Judge as Judge
from .registry import Rule as Rule
from .registry import judged_transactions as judged_transactions
from .registry import rule as rule
from .rules_header import bah_agents_match as bah_agents_match
from .rules_header import bah_business_message_id as bah_business_message_id
from .rules_header import bah_message_definition as bah_message_definition
from .rules_header import bic_structure as bic_structure
from .rules_header import clearing_member_id as clearing_member_id
from .rules_header import control_sum as control_sum
from .rules_header import iban_valid as iban_valid
from .rules_header import instructing_agent_allowed as instructing_agent_allowed
from .rules_header import total_settlement_amount as total_settlement_amount
from .rules_header import transaction_count as transaction_count
from .rules_header import transactions_per_message as transactions_per_message
from .rules_header import uetr_format as uetr_format
from .rules_transactions import amount_decimals as amount_decimals
from .rules_transactions import amount_positive as amount_positive
from .rules_transactions import amount_within_limits as amount_within_limits
from .rules_transactions import charge_bearer_allowed as charge_bearer_allowed
from .rules_transactions import currency_allowed as currency_allowed
from .rules_transactions import currency_known as currency_known
from .rules_transactions import settlement_date_window as settlement_date_window
from .settings import CheckSettings
from .verdicts import Outcome


@rule("RR04")
def sanctions_screening(ct: CreditTransfer, cx: Context) -> Outcome:
    """Debtor and creditor names against the sanctions list, agent countries against embargoes
    (RR04 RegulatoryReason: see chalicelib/checks/sanctions.py for why not BE01), with the
    Screening the run was given."""
    return sanctions.screen(ct, cx.screening)


def reference_date(ct: CreditTransfer, settings: CheckSettings, today: date | None = None) -> date:
    """``today`` if given; else the message's creation date (date_reference="creation",
    falling back to the clock when CreDtTm is unreadable) or the UTC clock."""
    if today is not None:
        return today
    if settings.date_reference == "creation":
        created = str(ct.creation_date_time or "")[:10]
        try:
            return date.fromisoformat(created)
        except ValueError:
            pass
    return datetime.now(UTC).date()
