"""The one error of the mail stage: input that leaves nothing to work with."""

from __future__ import annotations


class InputError(Exception):
    """Unusable input: a missing path, no mail, or no patch series in the mail.

    The message is one line, fit to print after `kvmplan: error:`.
    """
