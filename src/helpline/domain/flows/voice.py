"""How the phone reads a node: the prompt, then each option with the key that picks it.

The same nodes as the chat menus: the phone has no buttons, so it says what each key does
("For draws and results, press 1"), and the caller answers with the keypad (0 is always a person).
"""

from __future__ import annotations

from helpline.domain.flows.model import Node, localised

_PRESS = {
    "ru": "{label} — нажмите {key}.",
    "en": "For {label}, press {key}.",
    "ar": "{label}: اضغط {key}.",
}
_KEY_NAMES = {
    "*": {"ru": "звёздочку", "en": "star", "ar": "النجمة"},
    "#": {"ru": "решётку", "en": "hash", "ar": "المربع"},
}


def spoken_key(digit: str, language: str) -> str:
    names = _KEY_NAMES.get(digit)
    return localised(names, language) if names else digit


def spoken_menu(node: Node, language: str) -> str:
    """What the phone says at `node` in `language`."""
    template = _PRESS.get(language, _PRESS["en"])
    lines = [localised(node.prompt, language)]
    lines += [
        template.format(label=localised(o.label, language), key=spoken_key(o.digit, language))
        for o in node.options
    ]
    return " ".join(lines)
