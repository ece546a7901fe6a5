#!/usr/bin/env python3
"""Takes a backup with non-ASCII subjects and consumer names from a real
nats-server (for scripts/screenshots.sh; the output is not committed).

    make_unicode_fixture.py OUTDIR

Needs nats-py (the venv scripts/test.sh makes: target/venv) and a nats-server
binary: $JSBACKUP_NATS_SERVER_2_15, else target/nats-bin/2.15.1/nats-server.
The server and snapshot helpers are the fixtures' own
($JSBACKUP_SHARED/tools/make-fixtures/natsops.py). Every server started here
listens on 127.0.0.1 and is stopped by its PID.
"""
import asyncio
import json
import os
import shutil
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("JSBACKUP_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, os.path.join(SHARED, "tools", "make-fixtures"))
import natsops  # noqa: E402

SEC = 1_000_000_000
CAFE_NFC = unicodedata.normalize("NFC", "café")
CAFE_NFD = unicodedata.normalize("NFD", "café")
assert CAFE_NFC != CAFE_NFD

# (subject, payload fields): Japanese, Cyrillic, Korean, Greek, emoji, and a
# pair that differs only in Unicode normalisation.
SUBJECTS = [
    ("注文.作成", {"注文番号": "J-{i:04d}", "顧客": "山田太郎", "金額": 1200, "通貨": "JPY"}),
    ("注文.発送", {"注文番号": "J-{i:04d}", "配送業者": "ヤマト運輸", "状態": "発送済み"}),
    ("заказ.создан", {"номер": "R-{i:04d}", "клиент": "Иван Петров", "сумма": 990}),
    ("заказ.отправлен", {"номер": "R-{i:04d}", "склад": "Москва-2"}),
    ("주문.생성", {"주문번호": "K-{i:04d}", "고객": "김민수", "금액": 15000}),
    ("παραγγελία.νέα", {"αριθμός": "G-{i:04d}", "πελάτης": "Νίκος"}),
    ("events.🎉", {"event": "party {i}", "emoji": "🎉🚀"}),
    (CAFE_NFC, {"menu": "café au lait", "form": "NFC"}),
    (CAFE_NFD, {"menu": CAFE_NFD + " au lait", "form": "NFD"}),
]

CONSUMERS = [
    # (durable name, filter subject, messages fetched, of which acked)
    ("発送係", "注文.発送", 3, 3),
    ("склад", "заказ.>", 6, 4),
    ("배송팀", "주문.>", 2, 2),
    ("🔔-alerts", "events.🎉", 0, 0),
]


def server_binary():
    binary = os.environ.get("JSBACKUP_NATS_SERVER_2_15") or os.path.join(
        ROOT, "target", "nats-bin", "2.15.1", "nats-server")
    if not os.access(binary, os.X_OK):
        sys.exit(f"no nats-server 2.15 at {binary} (set JSBACKUP_NATS_SERVER_2_15 or run scripts/test.sh)")
    return binary


def payload(fields, i):
    body = {key: value.format(i=i) if isinstance(value, str) else value for key, value in fields.items()}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def build(js):
    await js.add_stream({
        "name": "INTL", "description": "non-ASCII subjects and consumers (screenshots)",
        "subjects": ["注文.>", "заказ.>", "주문.>", "παραγγελία.>", "events.>", CAFE_NFC, CAFE_NFD],
        "storage": "file", "retention": "limits", "duplicate_window": 120 * SEC})
    for i in range(60):
        subject, fields = SUBJECTS[i % len(SUBJECTS)]
        headers = None
        if i % 2 == 0:
            headers = {"Nats-Msg-Id": f"intl-{i:04d}", "Content-Type": "application/json; charset=utf-8"}
        await js.publish(subject, payload(fields, i), headers)
    for name, filter_subject, fetched, acked in CONSUMERS:
        await js.add_consumer("INTL", {"durable_name": name, "deliver_policy": "all",
                                       "ack_policy": "explicit", "ack_wait": 3600 * SEC,
                                       "filter_subject": filter_subject})
        if fetched:
            messages = await js.fetch("INTL", name, fetched, expires=3)
            if len(messages) != fetched:
                raise RuntimeError(f"{name}: fetched {len(messages)} of {fetched}")
            for message in messages[:acked]:
                await js.ack(message)


async def main(outdir):
    server = natsops.Server("2.15.1", server_binary(), name="jsbackup-screenshots")
    server.start()
    try:
        js = await natsops.JS.connect(server)
        try:
            await build(js)
            tmp = outdir + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            snapshot = await js.snapshot("INTL", tmp)
            state = snapshot["response"]["state"]
            if state["messages"] != 60:
                raise RuntimeError(f"snapshot has {state['messages']} messages, expected 60")
        finally:
            await js.close()
    finally:
        server.cleanup()
    shutil.rmtree(outdir, ignore_errors=True)
    os.replace(tmp, outdir)
    print(f"{outdir}: {state['messages']} messages, {len(CONSUMERS)} consumers (nats-server 2.15.1)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(main(os.path.abspath(sys.argv[1])))
