"""Demo data for `helpline demo`: a national lottery operator's support desk in Russian, English and Arabic.

Everything goes through the real services (user and team admin, contacts, the inbound path
every channel webhook uses, agent replies, assignment and status changes), so the demo shows
what the product actually does. Each step runs in its own unit of work whose clock is set to
the moment the step "happened", so conversations carry a believable history spread over the
last few days instead of all being created this second.

Apart from the passwords (fresh random ones, returned for the CLI to print) the data is
the same on every run for a given `now`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any

from sqlalchemy import delete, select, update

from helpline.bot.faq_bot import BotBrain, BotTurnRunner, detect_message_language
from helpline.bot.lookup_client import LookupClient
from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel, ConversationStatus, DeliveryStatus, Priority
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.contacts import ContactSpec, do_create_contact
from helpline.services.conversations import do_agent_reply, do_assign, do_change_status, do_set_priority
from helpline.services.enqueue import KIND_BOT_TURN, KIND_MESSAGE, OutboxStatus
from helpline.services.flows import FLOW_CHANNELS, do_activate, do_upload_flow
from helpline.services.inbound import IngestResult, ingest_inbound
from helpline.services.knowledge import do_import_faq
from helpline.services.users import (
    UserSpec,
    access_user,
    do_create_team,
    do_create_user,
    list_users,
    viewer_for,
)
from helpline.storage.models import Message, OutboxItem
from helpline.storage.uow import UnitOfWork

RU, EN, AR = Language.RU, Language.EN, Language.AR
_M = timedelta(minutes=1)
_H = timedelta(hours=1)
_D = timedelta(days=1)

#: Staff, teams, channels and contacts were "set up" this long before `now`.
_SETUP_AGO = 30 * _D
#: Providers stamp a message a moment before it reaches our webhook.
_DELIVERY_DELAY = timedelta(seconds=3)
#: The bot went live on the chat channels this long ago, after the history's conversations began.
_BOT_LIVE_AGO = 2 * _D + 6 * _H


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str
    name: str
    languages: tuple[str, ...]


# --- the cast -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Staff:
    key: str
    email: str
    name: str
    role: Role
    ui_language: Language
    languages: tuple[Language, ...]
    skills: tuple[str, ...] = ()
    capacity: int = 5


_STAFF: tuple[_Staff, ...] = (
    _Staff("irina", "irina.volkova@helpline.example", "Ирина Волкова", Role.ADMIN, RU, (RU, EN), (), 2),
    _Staff(
        "maria",
        "maria.kuznetsova@helpline.example",
        "Мария Кузнецова",
        Role.SUPERVISOR,
        RU,
        (RU, EN),
        ("payments", "prizes", "accounts", "technical", "vip"),
        3,
    ),
    _Staff(
        "anna",
        "anna.smirnova@helpline.example",
        "Анна Смирнова",
        Role.AGENT,
        RU,
        (RU, EN),
        ("payments", "prizes", "vip"),
        6,
    ),
    _Staff(
        "sergey",
        "sergey.ivanov@helpline.example",
        "Сергей Иванов",
        Role.AGENT,
        RU,
        (RU,),
        ("accounts", "technical"),
        5,
    ),
    _Staff(
        "emily",
        "emily.carter@helpline.example",
        "Emily Carter",
        Role.AGENT,
        EN,
        (EN, RU),
        ("payments", "prizes"),
        5,
    ),
    _Staff(
        "james",
        "james.whitfield@helpline.example",
        "James Whitfield",
        Role.AGENT,
        EN,
        (EN,),
        ("accounts", "technical"),
        5,
    ),
    _Staff(
        "omar",
        "omar.haddad@helpline.example",
        "عمر حداد",
        Role.AGENT,
        AR,
        (AR, EN),
        ("payments", "prizes", "vip"),
        4,
    ),
    _Staff(
        "layla",
        "layla.mansour@helpline.example",
        "ليلى منصور",
        Role.AGENT,
        AR,
        (AR, EN),
        ("accounts", "technical"),
        5,
    ),
)


@dataclass(frozen=True, slots=True)
class _Team:
    key: str
    name: str
    description: str
    skills: tuple[str, ...]
    members: tuple[str, ...]


_TEAMS: tuple[_Team, ...] = (
    _Team(
        "pay",
        "Payments & Prizes",
        "Deposits, withdrawals, ticket checks and prize claims.",
        ("payments", "prizes"),
        ("anna", "emily", "omar", "maria"),
    ),
    _Team(
        "acc",
        "Accounts & Technical",
        "Sign-in problems, locked accounts, identity verification and the apps.",
        ("accounts", "technical"),
        ("sergey", "james", "layla", "maria"),
    ),
    # The queue of the demo flow's order and call-back tickets (flows/examples/lottery.yaml).
    _Team(
        "del",
        "Deliveries",
        "Orders of printed tickets and merchandise, couriers and delivery questions.",
        ("deliveries",),
        ("anna", "james", "omar"),
    ),
)


@dataclass(frozen=True, slots=True)
class _Account:
    key: str
    channel: Channel
    name: str


_ACCOUNTS: tuple[_Account, ...] = (
    _Account("web", Channel.WEBCHAT, "Website"),
    _Account("tg", Channel.TELEGRAM, "@lottery_help_bot"),
    _Account("wa", Channel.WHATSAPP, "+7 495 000-00-00"),
    _Account("mail", Channel.EMAIL, "support@lottery.example"),
)

#: Marks the demo's channel accounts, which have no provider credentials to deliver replies with.
_ACCOUNT_CONFIG: Mapping[str, Any] = {"demo": True}


@dataclass(frozen=True, slots=True)
class _Customer:
    name: str
    language: Language
    identities: tuple[tuple[IdentityKind, str], ...]
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    vip: bool = False
    manager: str | None = None


P, E, T, W, C = (
    IdentityKind.PHONE,
    IdentityKind.EMAIL,
    IdentityKind.TELEGRAM,
    IdentityKind.WHATSAPP,
    IdentityKind.WEBCHAT,
)

_CUSTOMERS: tuple[_Customer, ...] = (
    _Customer(
        "Ольга Петрова",
        RU,
        ((P, "8 (916) 123-45-67"), (E, "olga.petrova@example.com"), (T, "412345678"), (C, "v-7d1e4b20")),
        ("online", "mobile-app", "постоянный-клиент"),
        {"customer_since": "2019", "loyalty_tier": "gold", "city": "Казань"},
    ),
    _Customer(
        "Игорь Васильев",
        RU,
        ((P, "+7 903 123-45-67"), (W, "79031234567"), (E, "i.vasiliev@example.net")),
        ("vip", "retail", "high-value"),
        {
            "customer_since": "2014",
            "loyalty_tier": "platinum",
            "city": "Москва",
            "preferred_contact": "WhatsApp",
        },
        vip=True,
        manager="anna",
    ),
    _Customer(
        "Наталья Соколова",
        RU,
        ((P, "+7 (913) 555-20-41"), (E, "n.sokolova@example.org")),
        ("online",),
        {"customer_since": "2022", "loyalty_tier": "silver", "city": "Новосибирск"},
    ),
    _Customer(
        "Алексей Морозов",
        RU,
        ((P, "8 922 600-17-35"), (T, "587120934"), (E, "alexey.morozov@example.com")),
        ("mobile-app",),
        {"customer_since": "2021", "city": "Екатеринбург", "app": "Android"},
    ),
    _Customer(
        "Татьяна Лебедева",
        RU,
        ((P, "+7 927 301-88-12"), (W, "79273018812")),
        ("retail",),
        {"customer_since": "2023", "city": "Самара"},
    ),
    _Customer(
        "Дмитрий Козлов",
        RU,
        ((C, "v-19b0e6c4"), (E, "d.kozlov@example.com"), (P, "+7 812 409-66-20")),
        ("online", "newsletter"),
        {"customer_since": "2020", "loyalty_tier": "silver", "city": "Санкт-Петербург"},
    ),
    _Customer(
        "John Miller",
        EN,
        ((P, "+44 7700 900123"), (E, "john.miller@example.co.uk"), (C, "v-a4f2c9e1")),
        ("online", "expat"),
        {"customer_since": "2022", "city": "Moscow", "nationality": "GB"},
    ),
    _Customer(
        "Sarah Thompson",
        EN,
        ((E, "sarah.thompson@example.org"), (P, "+44 20 7946 0958"), (T, "733918204")),
        ("online", "expat", "kyc-pending"),
        {"customer_since": "2024", "city": "Saint Petersburg", "residency": "foreign resident"},
    ),
    _Customer(
        "David Brown",
        EN,
        ((W, "447700900456"), (P, "+44 7700 900456"), (E, "david.brown@example.com")),
        ("mobile-app", "expat"),
        {"customer_since": "2023", "city": "Sochi", "app": "iOS"},
    ),
    _Customer(
        "أحمد الكعبي",
        AR,
        ((P, "+971 50 123 4567"), (W, "971501234567"), (E, "ahmed.alkaabi@example.ae")),
        ("vip", "online", "high-value"),
        {
            "customer_since": "2018",
            "loyalty_tier": "platinum",
            "city": "دبي",
            "preferred_contact": "WhatsApp",
        },
        vip=True,
        manager="omar",
    ),
    _Customer(
        "فاطمة الزهراء",
        AR,
        ((P, "+971 55 987 6543"), (T, "601447285"), (E, "fatima.z@example.ae")),
        ("online",),
        {"customer_since": "2021", "loyalty_tier": "gold", "city": "أبوظبي"},
    ),
    _Customer(
        "يوسف إبراهيم",
        AR,
        ((C, "v-5e83d07a"), (E, "youssef.ibrahim@example.com"), (P, "+971 52 240 1188")),
        ("online", "mobile-app"),
        {"customer_since": "2023", "city": "الشارقة"},
    ),
)


# --- the conversations --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Thread:
    """Where a conversation's customer messages come from: one identity on one channel account."""

    account: str
    kind: IdentityKind
    value: str
    language: Language
    sender_name: str | None = None


_THREADS: Mapping[str, _Thread] = {
    # The same customer on Telegram and later on the website: her history spans both.
    "olga_tg": _Thread("tg", T, "412345678", RU, "Ольга"),
    "olga_web": _Thread("web", C, "v-7d1e4b20", RU),
    "igor_wa": _Thread("wa", W, "79031234567", RU, "Игорь Васильев"),
    "natalia_mail": _Thread("mail", E, "n.sokolova@example.org", RU, "Наталья Соколова"),
    "alexey_tg": _Thread("tg", T, "587120934", RU, "Алексей М."),
    "tatiana_wa": _Thread("wa", W, "79273018812", RU, "Татьяна"),
    "dmitry_web": _Thread("web", C, "v-19b0e6c4", RU),
    "john_web": _Thread("web", C, "v-a4f2c9e1", EN),
    "sarah_mail": _Thread("mail", E, "sarah.thompson@example.org", EN, "Sarah Thompson"),
    "david_wa": _Thread("wa", W, "447700900456", EN, "David"),
    # Not known yet: the inbound path creates these two contacts.
    "guest_web": _Thread("web", C, "v-0c5aa913", EN),
    "maryam_tg": _Thread("tg", T, "640218377", AR, "مريم السويدي"),
    "ahmed_wa": _Thread("wa", W, "971501234567", AR, "Ahmed"),
    "fatima_tg": _Thread("tg", T, "601447285", AR, "فاطمة"),
    "youssef_web": _Thread("web", C, "v-5e83d07a", AR),
}


@dataclass(frozen=True, slots=True)
class _Says:
    """A customer message, `ago` before `now`."""

    thread: str
    ago: timedelta
    text: str


@dataclass(frozen=True, slots=True)
class _Reply:
    thread: str
    ago: timedelta
    by: str
    text: str
    internal: bool = False


@dataclass(frozen=True, slots=True)
class _Assign:
    thread: str
    ago: timedelta
    by: str
    assignee: str | None
    team: str | None


@dataclass(frozen=True, slots=True)
class _Status:
    thread: str
    ago: timedelta
    by: str
    status: ConversationStatus


@dataclass(frozen=True, slots=True)
class _Priority:
    thread: str
    ago: timedelta
    by: str
    priority: Priority


_Step = _Says | _Reply | _Assign | _Status | _Priority

RESOLVED, PENDING, CLOSED = ConversationStatus.RESOLVED, ConversationStatus.PENDING, ConversationStatus.CLOSED

# Listed conversation by conversation; they are replayed in time order.
_STEPS: tuple[_Step, ...] = (
    # -- Russian ---------------------------------------------------------------------------
    _Says(
        "olga_tg",
        3 * _D + 5 * _H,
        "Здравствуйте! Купила в приложении билет «6 из 45» на тираж № 1487. Как узнать, выиграл ли он?",
    ),
    _Says("olga_tg", 3 * _D + 4 * _H + 58 * _M, "Номер билета 0451-7782-1193"),
    _Assign("olga_tg", 3 * _D + 4 * _H + 45 * _M, "anna", "anna", "pay"),
    _Reply(
        "olga_tg",
        3 * _D + 4 * _H + 40 * _M,
        "anna",
        "Здравствуйте, Ольга! Проверить билет можно в приложении: «Мои билеты» → билет → «Проверить». "
        "Я посмотрела: билет 0451-7782-1193 угадал 4 числа из 6, выигрыш 2 000 ₽ уже зачислен "
        "на баланс кошелька. Поздравляем!",
    ),
    _Says("olga_tg", 3 * _D + 4 * _H + 30 * _M, "Ой, точно, вижу. Спасибо большое!"),
    _Status("olga_tg", 3 * _D + 4 * _H + 25 * _M, "anna", RESOLVED),
    _Says(
        "olga_web",
        1 * _D + 2 * _H,
        "Добрый день! Позавчера писала вам в Telegram про выигрыш по билету 0451-7782-1193. "
        "Хочу вывести 2 000 ₽ на карту — сколько это займёт и есть ли комиссия?",
    ),
    _Reply(
        "olga_web",
        1 * _D + 1 * _H + 40 * _M,
        "anna",
        "Ольга, добрый день! Вижу нашу переписку в Telegram. Вывод на карту занимает от 15 минут "
        "до 3 рабочих дней, в зависимости от банка; комиссии нет. В приложении: «Кошелёк» → «Вывести» "
        "→ выберите карту.",
    ),
    _Says("olga_web", 1 * _D + 1 * _H + 30 * _M, "А если карта мужа? Можно на неё?"),
    _Reply(
        "olga_web",
        1 * _D + 1 * _H + 20 * _M,
        "anna",
        "Выигрыш можно вывести только на карту, оформленную на владельца аккаунта, — этого требует "
        "закон о лотереях. Добавьте свою карту в разделе «Кошелёк» → «Мои карты», и вывод пройдёт.",
    ),
    _Status("olga_web", 1 * _D + 1 * _H + 19 * _M, "anna", PENDING),
    _Says(
        "igor_wa",
        2 * _D + 3 * _H,
        "Добрый вечер. Бумажный билет «Мега-Джекпот», тираж № 312 — совпало 5 чисел из 6. "
        "Как получить выигрыш?",
    ),
    _Says(
        "igor_wa",
        2 * _D + 2 * _H + 59 * _M,
        "Билет покупал в киоске у метро «Тверская», номер 312-0088-4410. Билет цел.",
    ),
    _Assign("igor_wa", 2 * _D + 2 * _H + 50 * _M, "maria", "anna", "pay"),
    _Priority("igor_wa", 2 * _D + 2 * _H + 49 * _M, "maria", Priority.HIGH),
    _Reply(
        "igor_wa",
        2 * _D + 2 * _H + 30 * _M,
        "anna",
        "Проверила по реестру: билет 312-0088-4410 выигрышный, 1 250 000 ₽. Выплата свыше 100 000 ₽ — "
        "только в центральном офисе после экспертизы билета. С финотделом предварительно "
        "согласовала четверг, 11:00.",
        internal=True,
    ),
    _Reply(
        "igor_wa",
        2 * _D + 2 * _H + 20 * _M,
        "anna",
        "Игорь Николаевич, добрый вечер и поздравляем! Выигрыш по билету 312-0088-4410 — 1 250 000 ₽. "
        "Выигрыши свыше 100 000 ₽ выплачиваются в центральном офисе после экспертизы билета. "
        "Возьмите паспорт, ИНН и оригинал билета (не сгибайте и не ламинируйте его). "
        "Могу записать вас на четверг, 11:00. Вам удобно?",
    ),
    _Status("igor_wa", 2 * _D + 2 * _H + 19 * _M, "anna", PENDING),
    _Says("igor_wa", 2 * _D + 1 * _H, "Да, четверг в 11 подходит. Налог вы удержите сами?"),
    _Reply(
        "igor_wa",
        2 * _D + 45 * _M,
        "anna",
        "Записала вас на четверг, 11:00, адрес офиса придёт в SMS. Да, налог на выигрыш (13%) "
        "мы удержим и перечислим сами — на ваш счёт поступит 1 087 500 ₽.",
    ),
    _Says(
        "natalia_mail",
        20 * _H,
        "Здравствуйте!\n\nВчера около 21:40 пополнила кошелёк на 1 500 ₽ картой «Мир». С карты деньги "
        "списались, а на балансе в личном кабинете их нет. Номер операции в выписке банка — 7789-2231.\n\n"
        "Помогите, пожалуйста, разобраться.\n\nНаталья Соколова",
    ),
    _Assign("natalia_mail", 19 * _H, "maria", None, "pay"),
    _Says(
        "natalia_mail",
        17 * _H,
        "Добавлю: в приложении пополнение до сих пор в статусе «В обработке». "
        "Могу прислать скриншот, если нужно.",
    ),
    _Reply(
        "natalia_mail",
        16 * _H,
        "maria",
        "Похоже на задержку ответа эквайера — третий такой случай за сутки. Завела инцидент PAY-2291 "
        "в финотделе; клиентке ответим, когда они подтвердят зачисление.",
        internal=True,
    ),
    _Says("alexey_tg", 5 * _H, "Аккаунт заблокировали после трёх неправильных паролей, не могу войти"),
    _Says("alexey_tg", 4 * _H + 58 * _M, "И код из SMS для восстановления не приходит"),
    _Assign("alexey_tg", 4 * _H + 50 * _M, "sergey", "sergey", "acc"),
    _Reply(
        "alexey_tg",
        4 * _H + 40 * _M,
        "sergey",
        "Алексей, здравствуйте! Блокировка после трёх попыток снимается сама через 30 минут, но я снял "
        "её вручную. SMS с кодом приходят с короткого номера — проверьте, не запрещены ли у вашего "
        "оператора короткие номера. Ещё можно восстановить пароль по почте: «Забыли пароль?» → «По e-mail».",
    ),
    _Says("alexey_tg", 4 * _H + 20 * _M, "Через почту получилось, вошёл. Спасибо!"),
    _Status("alexey_tg", 4 * _H + 15 * _M, "sergey", RESOLVED),
    _Says(
        "tatiana_wa",
        40 * _M,
        "Здравствуйте, подскажите, когда ближайший тираж «6 из 45»? И до скольки можно купить билет?",
    ),
    _Says(
        "dmitry_web",
        4 * _D + 1 * _H,
        "Где посмотреть результаты тиража Жилищной лотереи № 598? На сайте не нахожу.",
    ),
    _Reply(
        "dmitry_web",
        4 * _D + 50 * _M,
        "sergey",
        "Дмитрий, здравствуйте! Результаты — в разделе «Результаты» → «Жилищная лотерея» → «Архив "
        "тиражей», в поиске введите 598. Там же можно проверить билет по номеру.",
    ),
    _Says("dmitry_web", 4 * _D + 40 * _M, "Нашёл, спасибо"),
    _Status("dmitry_web", 4 * _D + 35 * _M, "sergey", RESOLVED),
    _Status("dmitry_web", 3 * _D, "maria", CLOSED),
    # -- English ---------------------------------------------------------------------------
    _Says(
        "john_web",
        2 * _D + 6 * _H,
        "Hi, I bought an online ticket for Lotto 6/45 draw #1487 but it doesn't show up under My Tickets.",
    ),
    _Says(
        "john_web",
        2 * _D + 5 * _H + 59 * _M,
        "The payment went through and I got a receipt, order number LT-558201.",
    ),
    _Reply(
        "john_web",
        2 * _D + 5 * _H + 40 * _M,
        "emily",
        "Hi John, thanks for the order number. Your purchase was made at 21:47 Moscow time, two minutes "
        "after ticket sales for draw #1487 closed, so the ticket was registered for the next draw, #1488. "
        "You'll find it under My Tickets → Upcoming.",
    ),
    _Says("john_web", 2 * _D + 5 * _H + 30 * _M, "Ah, that explains it. Thanks!"),
    _Status("john_web", 2 * _D + 5 * _H + 25 * _M, "emily", RESOLVED),
    _Says(
        "sarah_mail",
        1 * _D + 4 * _H,
        "Hello,\n\nI won 75,000 RUB in the Mega Jackpot draw #312 (ticket 312-5530-0712). The app says "
        "I need to verify my identity before I can withdraw. I'm a foreign resident living in "
        "St Petersburg - which documents do you need?\n\nKind regards,\nSarah Thompson",
    ),
    _Assign("sarah_mail", 1 * _D + 3 * _H + 30 * _M, "maria", "emily", "pay"),
    _Reply(
        "sarah_mail",
        1 * _D + 3 * _H,
        "emily",
        "Hello Sarah,\n\nCongratulations on your win! To verify your identity, please upload in the app "
        "(Profile → Verification):\n• your passport,\n• your residence permit or migration card,\n"
        "• your INN (tax number), if you have one.\n\nVerification usually takes one business day. "
        "Tax on winnings is withheld automatically before the payout.\n\nBest regards,\nEmily",
    ),
    _Status("sarah_mail", 1 * _D + 2 * _H + 59 * _M, "emily", PENDING),
    _Says(
        "sarah_mail",
        5 * _H,
        "Hi Emily,\n\nI've uploaded my passport and residence permit. I don't have an INN - "
        "is that a problem?\n\nSarah",
    ),
    _Says(
        "david_wa",
        3 * _H,
        "Hello, I topped up my wallet with 5,000 RUB via Apple Pay two hours ago "
        "and it still hasn't arrived.",
    ),
    _Says("david_wa", 2 * _H + 55 * _M, "Transaction ID 2F8A-11C9-7B30"),
    _Assign("david_wa", 2 * _H + 40 * _M, "maria", None, "pay"),
    _Says(
        "guest_web", 15 * _M, "Hi! Is there a minimum age to buy tickets online? I'm visiting from the UK."
    ),
    _Says("guest_web", 14 * _M, "And can I pay with a foreign card?"),
    # -- Arabic ----------------------------------------------------------------------------
    _Says(
        "ahmed_wa",
        1 * _D + 8 * _H,
        "السلام عليكم، اشتريت 10 تذاكر لسحب «الجائزة الكبرى» رقم 312 عبر الموقع. "
        "كيف أعرف إن كانت إحداها رابحة؟",
    ),
    _Assign("ahmed_wa", 1 * _D + 7 * _H + 50 * _M, "maria", "omar", "pay"),
    _Priority("ahmed_wa", 1 * _D + 7 * _H + 49 * _M, "maria", Priority.HIGH),
    _Reply(
        "ahmed_wa",
        1 * _D + 7 * _H + 30 * _M,
        "omar",
        "وعليكم السلام أستاذ أحمد، يسعدني مساعدتك. نتائج السحب رقم 312 منشورة في قسم «النتائج» على "
        "الموقع، ويمكنك فحص تذاكرك من «تذاكري» ← «فحص». راجعت تذاكرك: تذكرتان منها رابحتان بمبلغ "
        "500 روبل لكل منهما، وقد أُضيف المبلغ إلى رصيد محفظتك.",
    ),
    _Says("ahmed_wa", 1 * _D + 7 * _H, "شكراً جزيلاً على سرعة الرد 🌹"),
    _Status("ahmed_wa", 1 * _D + 6 * _H + 55 * _M, "omar", RESOLVED),
    _Says(
        "fatima_tg",
        6 * _H,
        "مرحباً، قمت بإيداع 2000 روبل في محفظتي بالبطاقة قبل ساعتين ولم يظهر المبلغ في حسابي حتى الآن",
    ),
    _Says("fatima_tg", 5 * _H + 58 * _M, "رقم العملية 4471-0098"),
    _Assign("fatima_tg", 5 * _H + 40 * _M, "maria", "omar", "pay"),
    _Reply(
        "fatima_tg",
        5 * _H + 20 * _M,
        "omar",
        "مرحباً فاطمة، تحققت من العملية رقم 4471-0098: الدفعة ما زالت قيد المعالجة لدى البنك، "
        "وعادةً تظهر في الرصيد خلال ساعة. سأتابع الأمر وأبلغك فور وصولها.",
    ),
    _Status("fatima_tg", 5 * _H + 19 * _M, "omar", PENDING),
    _Says("youssef_web", 2 * _H, "مرحباً، تم قفل حسابي بعد أن غيّرت رقم هاتفي. كيف أستعيد الدخول؟"),
    _Assign("youssef_web", 1 * _H + 50 * _M, "layla", "layla", "acc"),
    _Reply(
        "youssef_web",
        1 * _H + 40 * _M,
        "layla",
        "أهلاً يوسف، لأسباب أمنية يُجمَّد الحساب مؤقتاً عند تغيير رقم الهاتف. يرجى إرسال صورة واضحة "
        "من جواز السفر عبر هذه المحادثة للتحقق من هويتك، وسنعيد تفعيل الحساب خلال ساعة.",
    ),
    _Says("youssef_web", 1 * _H + 20 * _M, "أرسلت الصورة عبر البريد الإلكتروني، هل هذا يكفي؟"),
    _Says(
        "maryam_tg",
        1 * _H,
        "مساء الخير، متى موعد السحب القادم لـ«6 من 45»؟ وهل يمكنني شراء تذكرة وأنا خارج روسيا؟",
    ),
)


# --- the bot's conversations --------------------------------------------------------------

#: Customers who met the bot after it went live on the chat channels. Their messages go through
#: the real bot (the classifier trained on the demo's knowledge base, the lottery flow), so the
#: bot report, the handed-off conversations in the queue and their transcripts are what the
#: product does: questions answered and confirmed, a person asked for, an answer that did not
#: help, tickets, and one visitor who left in the middle of the menu.
_BOT_THREADS: Mapping[str, _Thread] = {
    "svetlana_web": _Thread("web", C, "v-b07e51a2", RU),
    "liam_tg": _Thread("tg", T, "702556104", EN, "Liam"),
    "khalid_wa": _Thread("wa", W, "966551234567", AR, "Khalid"),
    "pavel_tg": _Thread("tg", T, "688302417", RU, "Павел"),
    "emma_web": _Thread("web", C, "v-3c9de0f7", EN),
    "nour_tg": _Thread("tg", T, "655901238", AR, "نور"),
    "mike_wa": _Thread("wa", W, "447700900789", EN, "Mike"),
    "elena_wa": _Thread("wa", W, "79161112233", RU, "Елена"),
    "roman_web": _Thread("web", C, "v-9a1f4c3e", RU),
}
_BOT_STEPS: tuple[_Says, ...] = (
    _Says("svetlana_web", 2 * _D + 3 * _H, "Во сколько сегодня розыгрыш Мегаджекпота?"),
    _Says("svetlana_web", 2 * _D + 2 * _H + 59 * _M, "да, спасибо"),
    _Says("liam_tg", 1 * _D + 20 * _H, "how do I check if my ticket won?"),
    _Says("liam_tg", 1 * _D + 19 * _H + 58 * _M, "yes thanks"),
    _Says("khalid_wa", 1 * _D + 6 * _H, "كيف أسحب أرباحي إلى البطاقة؟"),
    _Says("khalid_wa", 1 * _D + 5 * _H + 58 * _M, "نعم شكرا"),
    _Says("pavel_tg", 1 * _D, "Здравствуйте"),
    _Says("pavel_tg", 23 * _H + 59 * _M, "2"),
    _Says("pavel_tg", 23 * _H + 58 * _M, "4"),
    _Says("pavel_tg", 23 * _H + 56 * _M, "Спасибо, но это не помогло: мне нужен вычет за прошлый год"),
    _Says("emma_web", 20 * _H, "hi"),
    _Says("emma_web", 19 * _H + 59 * _M, "3"),
    _Says("emma_web", 19 * _H + 58 * _M, "it's 48213"),
    _Says("emma_web", 19 * _H + 57 * _M, "4821377"),
    _Says("nour_tg", 5 * _H, "مرحبا، أريد التحدث مع موظف من فضلك"),
    _Says("mike_wa", 3 * _H, "hello"),
    _Says("elena_wa", 2 * _H, "как получить крупный выигрыш, у меня 2 миллиона?"),
    _Says("elena_wa", 1 * _H + 58 * _M, "да"),
    _Says("roman_web", 40 * _M, "5"),
    _Says("roman_web", 39 * _M, "+7 916 555-12-34"),
)
#: Message numbers of the bot's conversations start here, clear of the history's.
_BOT_SEQ = 5000


def _provider_message_id(thread_key: str, thread: _Thread, channel: Channel, seq: int) -> str:
    """An id shaped like the provider's own, unique per channel account."""
    if channel is Channel.TELEGRAM:
        return f"{thread.value}:{1000 + seq}"
    if channel is Channel.WHATSAPP:
        return f"wamid.DEMO{seq:05d}{thread.value}"
    if channel is Channel.EMAIL:
        return f"<{seq:05d}.{thread_key}@{thread.value.rpartition('@')[2]}>"
    return f"{thread.value}:{seq}"


# --- loading ------------------------------------------------------------------------------


async def seed_demo(
    make_uow: Callable[[], UnitOfWork], brain: BotBrain, *, now: datetime | None = None
) -> list[DemoLogin]:
    """Load realistic demo data into an empty, migrated database; returns the logins to print.

    `brain` is the bot the server will run (its trained classifier is kept in the data folder,
    so the server starts with it ready)."""
    start = make_uow().now() if now is None else now
    if start.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    def at(moment: datetime) -> Callable[[], UnitOfWork]:
        """Units of work whose clock reads `moment`, so timestamps tell the demo's story."""

        def make() -> UnitOfWork:
            uow = make_uow()
            uow.now = lambda: moment
            return uow

        return make

    logins: list[DemoLogin] = []
    user_ids: dict[str, int] = {}
    team_ids: dict[str, int] = {}
    accounts: dict[str, tuple[int, Channel]] = {}
    async with at(start - _SETUP_AGO)() as uow:
        if await list_users(uow):
            raise RuntimeError("database is not empty")
        for staff in _STAFF:
            password = secrets.token_urlsafe(12)
            user = await do_create_user(
                uow,
                UserSpec(
                    email=staff.email,
                    name=staff.name,
                    password=password,
                    role=staff.role,
                    ui_language=staff.ui_language,
                    languages=staff.languages,
                    skills=staff.skills,
                    capacity=staff.capacity,
                ),
            )
            user_ids[staff.key] = user.id
            logins.append(
                DemoLogin(
                    email=user.email,
                    password=password,
                    role=staff.role.value,
                    name=staff.name,
                    languages=tuple(lang.value for lang in staff.languages),
                )
            )
        for team in _TEAMS:
            created = await do_create_team(
                uow, team.name, team.description, team.skills, [user_ids[m] for m in team.members]
            )
            team_ids[team.key] = created.id
        for spec in _ACCOUNTS:
            account = await do_ensure_channel_account(uow, spec.channel, spec.name, dict(_ACCOUNT_CONFIG))
            accounts[spec.key] = (account.id, spec.channel)
        for customer in _CUSTOMERS:
            await do_create_contact(
                uow,
                ContactSpec(
                    name=customer.name,
                    language=customer.language,
                    is_vip=customer.vip,
                    personal_manager_id=None if customer.manager is None else user_ids[customer.manager],
                    tags=customer.tags,
                    attributes=customer.attributes,
                    identities=customer.identities,
                ),
            )
        await uow.commit()

    conversations: dict[str, int] = {}
    # Oldest first; sorted() is stable, so steps at the same moment keep their listed order.
    for seq, step in enumerate(sorted(_STEPS, key=lambda s: s.ago, reverse=True), start=1):
        moment = start - step.ago
        if isinstance(step, _Says):
            result = await _customer_says(at(moment), _THREADS, accounts, step, seq, moment)
            if conversations.setdefault(step.thread, result.conversation_id) != result.conversation_id:
                raise RuntimeError(f"demo script: {step.thread} unexpectedly started a new conversation")
            continue
        conversation_id = conversations.get(step.thread)
        if conversation_id is None:
            raise RuntimeError(f"demo script: {step.thread} is acted on before its first message")
        async with at(moment)() as uow:
            viewer = await viewer_for(uow, await access_user(uow, user_ids[step.by]))
            if isinstance(step, _Reply):
                await do_agent_reply(uow, viewer, conversation_id, step.text, internal=step.internal)
            elif isinstance(step, _Assign):
                await do_assign(
                    uow,
                    viewer,
                    conversation_id,
                    None if step.assignee is None else user_ids[step.assignee],
                    None if step.team is None else team_ids[step.team],
                )
            elif isinstance(step, _Status):
                await do_change_status(uow, viewer, conversation_id, step.status)
            else:
                await do_set_priority(uow, viewer, conversation_id, step.priority)
            await uow.commit()
    async with at(start - _BOT_LIVE_AGO)() as uow:
        await seed_self_service(uow, admin_id=user_ids.get("irina"))
        await uow.commit()
    await _replay_bot_conversations(at, accounts, brain, start)
    async with make_uow() as uow:
        await _history_was_delivered(uow)
        await uow.commit()
    return logins


async def _customer_says(
    make_uow: Callable[[], UnitOfWork],
    threads: Mapping[str, _Thread],
    accounts: Mapping[str, tuple[int, Channel]],
    step: _Says,
    seq: int,
    moment: datetime,
) -> IngestResult:
    """The customer's message, through the inbound path every channel webhook uses."""
    thread = threads[step.thread]
    account_id, channel = accounts[thread.account]
    return await ingest_inbound(
        make_uow,
        InboundMessage(
            channel=channel,
            channel_account_id=account_id,
            identity_kind=thread.kind,
            identity_value=thread.value,
            text=step.text,
            provider_message_id=_provider_message_id(step.thread, thread, channel, seq),
            sent_at=moment - _DELIVERY_DELAY,
            sender_name=thread.sender_name,
            language=thread.language,
        ),
    )


async def _replay_bot_conversations(
    at: Callable[[datetime], Callable[[], UnitOfWork]],
    accounts: Mapping[str, tuple[int, Channel]],
    brain: BotBrain,
    now: datetime,
) -> None:
    """Each customer message of the bot's conversations, then the bot's turn on it, as the
    worker would run it at that moment; sessions left idle are ended as the worker's sweep does."""
    async with LookupClient() as lookups:  # the demo flow has no lookups to call

        def runner(moment: datetime) -> BotTurnRunner:
            return BotTurnRunner(at(moment), brain, detect_message_language, lookups)

        steps = sorted(_BOT_STEPS, key=lambda s: s.ago, reverse=True)
        for seq, step in enumerate(steps, start=_BOT_SEQ):
            moment = now - step.ago
            await _customer_says(at(moment), _BOT_THREADS, accounts, step, seq, moment)
            async with at(moment)() as uow:
                turns = await uow.session.scalars(
                    select(OutboxItem.id)
                    .where(OutboxItem.kind == KIND_BOT_TURN, OutboxItem.status == OutboxStatus.QUEUED.value)
                    .order_by(OutboxItem.id)
                )
                pending = list(turns)
            for item_id in pending:
                await runner(moment).run(item_id)
        await runner(now).end_idle_sessions()


async def _history_was_delivered(uow: UnitOfWork) -> None:
    """The agents' replies in the demo's history reached their customers back then.

    The demo's channel accounts hold no real credentials, so the worker would try to send that
    history now and mark every past reply "failed": the console would greet its visitor with
    a wall of red delivery errors that say nothing about the product.
    """
    await uow.session.execute(
        update(Message)
        .where(Message.delivery_status == DeliveryStatus.QUEUED.value)
        .values(delivery_status=DeliveryStatus.DELIVERED.value, sent_at=Message.created_at)
    )
    await uow.session.execute(delete(OutboxItem).where(OutboxItem.kind == KIND_MESSAGE))


#: The demo's bot: the lottery FAQ (ru/en/ar) and the menu flow, greeting every chat channel.
DEMO_FLOW = files("helpline.flows").joinpath("examples/lottery.yaml")
DEMO_FAQ = files("helpline.bot").joinpath("data")


async def seed_self_service(uow: UnitOfWork, admin_id: int | None = None) -> None:
    """Knowledge base from the packaged FAQ, the lottery flow uploaded and active on chat channels.

    Existing demo conversations keep their people; new ones (any chat channel) meet the bot first.
    """
    await do_import_faq(
        uow,
        DEMO_FAQ.joinpath("faq_articles.jsonl").read_text(encoding="utf-8"),
        DEMO_FAQ.joinpath("faq_train.jsonl").read_text(encoding="utf-8"),
        DEMO_FAQ.joinpath("faq_titles.jsonl").read_text(encoding="utf-8"),
    )
    version = await do_upload_flow(uow, DEMO_FLOW.read_text(encoding="utf-8"), admin_id)
    await do_activate(uow, version.id, [c.value for c in FLOW_CHANNELS if c is not Channel.PHONE], admin_id)
