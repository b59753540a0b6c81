"""Sandbox: emulators of Stripe and Epicor Kinetic for demos and tests.

Nothing here talks to a real system. `python -m sandbox serve` runs both emulators on one port
(Stripe under `/v1`, Epicor under `/KineticSandbox/api`); `python -m sandbox trigger payment`
creates a payment and delivers its signed events to the receiver, like `stripe trigger`.
"""
