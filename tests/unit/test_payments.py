import pytest

from portal.adapters.payments import (
    SIMULATED_FAILING_CARD,
    ChargeRequest,
    CheckoutRequest,
    EventKind,
    EventRejected,
    SimulatedOutcome,
    SimulatedPayments,
)


def checkout(amount: int = 12_345) -> CheckoutRequest:
    return CheckoutRequest(amount, "EUR", "Claim 26-ABCD", "https://portal/ok", "https://portal/no")


def charge(key: str, card: str = "sim_pm_card") -> ChargeRequest:
    return ChargeRequest(5_000, "EUR", "sim_cus_1", card, key, "Instalment 2 of 6")


def test_a_checkout_opens_the_local_confirmation_page() -> None:
    started = SimulatedPayments().start_checkout(checkout())
    assert started.provider_ref.startswith("sim_cs_")
    assert started.redirect_url == f"/pay/checkout/{started.provider_ref}"


@pytest.mark.parametrize("amount", [0, -1])
def test_a_checkout_needs_a_positive_amount(amount: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        SimulatedPayments().start_checkout(checkout(amount))


def test_a_paid_checkout_gives_the_event_a_webhook_would_bring() -> None:
    provider = SimulatedPayments()
    event = provider.checkout_event("sim_cs_abc", 12_345, "EUR", SimulatedOutcome.PAY)
    assert event is not None
    assert event.kind is EventKind.CHECKOUT_COMPLETED
    assert (event.checkout_ref, event.amount_minor, event.currency) == ("sim_cs_abc", 12_345, "EUR")
    assert event.event_id == "sim_evt_abc" and event.payment_ref == "sim_pi_abc"


def test_a_declined_card_sends_no_event() -> None:
    assert (
        SimulatedPayments().checkout_event("sim_cs_x", 100, "EUR", SimulatedOutcome.DECLINE) is None
    )


def test_off_session_charges_are_idempotent_by_key_and_can_be_made_to_fail() -> None:
    provider = SimulatedPayments()
    first, again = (
        provider.charge_saved_card(charge("k1")),
        provider.charge_saved_card(charge("k1")),
    )
    assert first == again and first.succeeded
    assert provider.charge_saved_card(charge("k2")).payment_ref != first.payment_ref
    failed = provider.charge_saved_card(charge("k3", SIMULATED_FAILING_CARD))
    assert not failed.succeeded and failed.failure


def test_the_simulated_provider_accepts_no_webhooks() -> None:
    with pytest.raises(EventRejected):
        SimulatedPayments().parse_event(b"{}", "t=1,v1=00")
