"""Reading and writing topics from the CLI with errors a user can act on: a command names the role it is
run as (docs/cli.md), and when Kafka refuses the principal, the message says which role's
credentials the command needs; a missing topic or an unreachable cluster is said as such.
All of them exit 3."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import NoReturn, TypeVar

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from facegate_sdk import IdempotenceRefused

from gateway.cli.console import errors, plain
from gateway.cli.output import Exit
from gateway.contract.topics import TopicNames
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import Records, partitions_of, read_topic, stop_quietly
from gateway.settings import Settings

T = TypeVar("T")


class Role(StrEnum):
    VENDOR = "vendor"
    TENANT = "tenant"
    REGULATOR = "regulator"
    GATEWAY = "gateway"


WHO = {
    Role.VENDOR: "a camera vendor's principal (a `vendors:` entry of the roles file)",
    Role.TENANT: "the tenant's principal (its `tenants:` entry of the roles file)",
    Role.REGULATOR: "a regulator's principal (a `regulators:` entry of the roles file)",
    Role.GATEWAY: "the gateway's principal (the `gateway:` entry of the roles file), as the platform operator",
}


def _principal(settings: Settings) -> str:
    return f"User:{settings.sasl_username}" if settings.sasl_username else "this principal"


def not_authorized(settings: Settings, command: str, role: Role, what: str) -> NoReturn:
    errors.print(
        f"[red]not authorized:[/red] Kafka refused {_principal(settings)} {what}. "
        f"`facegate {command}` is the {role.value} role's command: run it with the credentials of "
        f"{WHO[role]} (FACEGATE_SASL_USERNAME / FACEGATE_SASL_PASSWORD), which `facegate acl apply` "
        "gives the ACLs it needs.",
        highlight=False,
    )
    raise typer.Exit(Exit.KAFKA)


async def _visible(settings: Settings, topic: str, attempts: int = 20) -> bool | None:
    """Whether `topic` exists; None when the cluster hides it from this principal (no Describe ACL).
    A topic created a moment ago may be missing from a broker's metadata (or without a leader yet):
    asked `attempts` times, 0.1 s apart (`partitions_of`), before it is called missing."""
    consumer = AIOKafkaConsumer(**aiokafka_config(settings), group_id=None)
    await consumer.start()
    try:
        await partitions_of(consumer, topic, attempts)
        return True
    except LookupError:
        return None if topic in consumer._client.cluster.unauthorized_topics else False
    finally:
        await stop_quietly(consumer)


def missing_topic(settings: Settings, topic: str) -> NoReturn:
    """Exit 3 naming the topic and the command that creates it (for its tenant, if it has one)."""
    tenant = TopicNames(settings.topic_prefix).tenant_of(topic)
    create = f"facegate topics create -t {tenant}" if tenant else "facegate topics create"
    errors.print(f"[red]topic {plain(topic)} does not exist:[/red] run `{plain(create)}`", highlight=False)
    raise typer.Exit(Exit.KAFKA)


@contextlib.contextmanager
def kafka_errors(settings: Settings, command: str, role: Role, topic: str) -> Iterator[None]:
    """Turn Kafka's refusals while using `topic` into exit 3 with a message naming `role`."""
    try:
        yield
    except TopicAuthorizationFailedError:
        not_authorized(settings, command, role, f"access to {topic}")
    except GroupAuthorizationFailedError as exc:
        not_authorized(settings, command, role, f"the consumer group ({exc})")
    except LookupError:  # the topic is not in the metadata: missing, or hidden from us
        with contextlib.suppress(KafkaError):
            if asyncio.run(_visible(settings, topic, attempts=1)) is None:  # read_topic asked already
                not_authorized(settings, command, role, f"access to {topic}")
        missing_topic(settings, topic)
    except KafkaConnectionError as exc:
        errors.print(f"[red]cannot reach Kafka at {settings.bootstrap_servers}:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.KAFKA) from None
    except IdempotenceRefused as exc:
        errors.print(f"[red]Kafka refused:[/red] {exc}", highlight=False)
        raise typer.Exit(Exit.KAFKA) from None
    except KafkaError as exc:
        errors.print(f"[red]Kafka refused:[/red] {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(Exit.KAFKA) from None


def read(settings: Settings, topic: str, command: str, role: Role) -> Records:
    """Every record of `topic` (read_topic), or exit 3 with a message naming `role`."""
    return run(settings, command, role, topic, lambda: read_topic(aiokafka_config(settings), topic))


def run(settings: Settings, command: str, role: Role, topic: str, work: Callable[[], Awaitable[T]]) -> T:
    async def go() -> T:
        return await work()

    with kafka_errors(settings, command, role, topic):
        return asyncio.run(go())
    raise AssertionError("unreachable")  # kafka_errors exits; mypy cannot see it


def write(settings: Settings, command: str, role: Role, topic: str, work: Callable[[], Awaitable[T]]) -> T:
    """`run` for work that produces to `topic`, once it is known to exist: a producer waits for a
    missing topic's metadata until its request times out (40 s, the client logging each retry)."""
    with kafka_errors(settings, command, role, topic):
        visible = asyncio.run(_visible(settings, topic))
    if visible is None:
        not_authorized(settings, command, role, f"access to {topic}")
    if not visible:
        missing_topic(settings, topic)
    return run(settings, command, role, topic, work)
