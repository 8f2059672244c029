"""Mailing-list bot: watch an archive, review each new series version once.

    sources = open_source(path)                   # maildir, growing mbox, public-inbox git
    bot = Bot(sources, outbox, state_path, load_bot_config(path), Log(sys.stderr))
    bot.run_pass(final=True)                      # --once; --interval loops

State (kvmplan.bot.state) makes every pass restartable after a kill at any
point; outputs land in the outbox (kvmplan.bot.outbox) under names derived
from the series, so nothing is written twice.
"""

from kvmplan.bot.config import BotConfig, SmtpConfig, load_bot_config
from kvmplan.bot.engine import Bot, BotError, PassStats
from kvmplan.bot.log import Log
from kvmplan.bot.sources import Source, SourceError, open_source
from kvmplan.bot.state import State, StateError

__all__ = ["Bot", "BotConfig", "BotError", "Log", "PassStats", "SmtpConfig", "Source",
           "SourceError", "State", "StateError", "load_bot_config", "open_source"]
