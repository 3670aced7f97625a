from alembic import context

from govhub_common.migrations import run_env

run_env(context, None)
