"""The bot's own sentences (not written in any flow), in each language; a flow may override them."""

from __future__ import annotations

from collections.abc import Mapping

from helpline.domain.flows.model import LocalText, localised

#: The phrases filled in with the flow's fields and the ticket's number (a ticket's confirmation);
#: every other is sent as written.
FILLED_PHRASES = frozenset({"ticket_created"})

DEFAULT_PHRASES: Mapping[str, LocalText] = {
    "did_it_help": {
        "ru": "Это ответ на ваш вопрос?",
        "en": "Did this answer your question?",
        "ar": "هل أجاب هذا عن سؤالك؟",
    },
    "yes": {"ru": "Да, спасибо", "en": "Yes, thanks", "ar": "نعم، شكرًا"},
    "no": {"ru": "Нет", "en": "No", "ar": "لا"},
    "operator": {"ru": "Оператор", "en": "Operator", "ar": "موظف"},
    "menu": {"ru": "Главное меню", "en": "Main menu", "ar": "القائمة الرئيسية"},
    "glad": {
        "ru": "Рады были помочь! Пишите, если появятся вопросы.",
        "en": "Glad I could help! Write any time you have another question.",
        "ar": "يسعدنا أننا ساعدناك! راسلنا متى كان لديك سؤال آخر.",
    },
    "welcome": {
        "ru": "Пожалуйста! Если появятся вопросы — пишите.",
        "en": "You're welcome! Write any time you have another question.",
        "ar": "على الرحب والسعة! راسلنا متى كان لديك سؤال آخر.",
    },
    "handoff": {
        "ru": "Соединяю вас с оператором. Он увидит нашу переписку, повторять ничего не нужно.",
        "en": (
            "I'm connecting you with an operator. They will see our conversation, "
            "so there is no need to repeat anything."
        ),
        "ar": "جارٍ تحويلك إلى موظف. سيرى محادثتنا، فلا داعي لتكرار أي شيء.",
    },
    "handoff_offline": {
        "ru": (
            "Сейчас все операторы не в сети. Ваше сообщение сохранено: оператор ответит здесь, "
            "как только появится, и увидит всю нашу переписку."
        ),
        "en": (
            "All our operators are offline right now. Your messages are saved: an operator will "
            "answer here as soon as one is back, with our whole conversation in front of them."
        ),
        "ar": (
            "جميع الموظفين غير متصلين الآن. رسائلك محفوظة، "
            "وسيرد عليك موظف هنا فور عودته، وسيرى محادثتنا كاملة."
        ),
    },
    "not_understood": {
        "ru": "Извините, я не понял. Выберите вариант или напишите вопрос своими словами.",
        "en": "Sorry, I didn't understand. Choose an option or type your question in your own words.",
        "ar": "عذرًا، لم أفهم. اختر أحد الخيارات أو اكتب سؤالك بكلماتك.",
    },
    "clarify": {
        "ru": "Уточните, пожалуйста, что вы имели в виду:",
        "en": "Which of these did you mean?",
        "ar": "أيّ هذين تقصد؟",
    },
    "invalid_field": {
        "ru": "Похоже, здесь ошибка. Попробуйте ещё раз.",
        "en": "That doesn't look right. Please try again.",
        "ar": "يبدو أن هناك خطأ. حاول مرة أخرى من فضلك.",
    },
    "share_phone": {"ru": "Отправить мой номер", "en": "Share my number", "ar": "مشاركة رقمي"},
    "invalid_phone": {
        "ru": "Не получилось распознать номер. Напишите его полностью, например +7 912 345-67-89.",
        "en": "I couldn't read that as a phone number. Please type it in full, e.g. +44 20 7946 0958.",
        "ar": "لم أتمكن من قراءة رقم الهاتف. اكتبه كاملًا من فضلك، مثل ‎+971 50 123 4567.",
    },
    "ticket_created": {
        "ru": "Ваше обращение №{ticket} зарегистрировано. Специалист свяжется с вами.",
        "en": "Your request #{ticket} has been registered. A specialist will get back to you.",
        "ar": "تم تسجيل طلبك رقم {ticket}. سيتواصل معك أحد المختصين.",
    },
    "lookup_failed": {
        "ru": "Сейчас не получается это проверить.",
        "en": "I can't check that right now.",
        "ar": "لا أستطيع التحقق من ذلك الآن.",
    },
}


def phrase(overrides: Mapping[str, LocalText], key: str, language: str) -> str:
    """A standard sentence in `language`, the flow's own wording first."""
    return localised(overrides.get(key) or DEFAULT_PHRASES[key], language)
