"""Background work of the accounts: the password-reset email."""

import logging

from common.emails import normalize_email

from .mail import email_task, send
from .models import User
from .tokens import link_lifetime, password_reset_tokens, set_password_link

logger = logging.getLogger("leadline.mail")


@email_task
def send_password_reset(email):
    """Email a reset link to the active user with this address, if there is one.

    The request endpoint queues this for every address it is given, known or
    not, so its answer and its timing say nothing about which accounts exist;
    the lookup happens here. As in Django's own reset form, a user without a
    usable password (an agent who never accepted the invitation, a login whose
    password was switched off) gets no link: a manager sends a new invitation.
    """
    user = User.objects.filter(email=normalize_email(email), is_active=True).first()
    if user is None or not user.has_usable_password():
        logger.info("password reset requested for an address with no active password login")
        return False
    return send(
        "password_reset",
        to=user.email,
        context={
            "user": user,
            "link": set_password_link(user, password_reset_tokens),
            "valid_for": link_lifetime(password_reset_tokens),
        },
    )
