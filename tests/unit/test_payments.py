import pytest

from portal.adapters.payments import CheckoutNotFound, CheckoutRequest, SimulatedPayments


def request(amount: int = 12_345) -> CheckoutRequest:
    return CheckoutRequest("26-ABCD-EFGH", amount, "EUR", "https://portal/ok", "https://portal/no")


def test_simulated_checkout_pays_once() -> None:
    provider = SimulatedPayments()
    checkout = provider.start_checkout(request())
    assert checkout.redirect_url == f"https://portal/ok?checkout={checkout.provider_id}"
    event = provider.confirm(checkout.provider_id)
    assert (event.amount_minor, event.currency, event.checkout_id) == (
        12_345,
        "EUR",
        checkout.provider_id,
    )
    with pytest.raises(CheckoutNotFound):
        provider.confirm(checkout.provider_id)


def test_each_checkout_gets_its_own_event_id() -> None:
    provider = SimulatedPayments()
    first = provider.confirm(provider.start_checkout(request()).provider_id)
    second = provider.confirm(provider.start_checkout(request()).provider_id)
    assert first.event_id != second.event_id


@pytest.mark.parametrize("amount", [0, -100])
def test_checkout_needs_a_positive_amount(amount: int) -> None:
    with pytest.raises(ValueError, match="positive amount"):
        SimulatedPayments().start_checkout(request(amount))


def test_unknown_checkout_is_refused() -> None:
    with pytest.raises(CheckoutNotFound):
        SimulatedPayments().confirm("sim_cs_forged")
