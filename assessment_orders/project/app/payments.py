"""The payment provider. Every order's total is authorized before the order is saved.

In production this is a call to the provider's API over the network; here it stands in for that
call: it takes about as long as one (the provider answers in 10 to 20 ms) and approves every
payment.
"""

import time

# How long the provider takes to answer, in seconds.
PROVIDER_LATENCY = 0.015


def authorize(customer_id: int, amount_cents: int) -> str:
    """Authorize a payment of ``amount_cents`` by the customer; the provider's authorization id."""
    time.sleep(PROVIDER_LATENCY)
    return f"auth-{customer_id}-{amount_cents}"
