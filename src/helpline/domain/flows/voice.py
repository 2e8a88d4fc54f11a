"""How the phone reads a node: the prompt, then each option with the key that picks it.

The same nodes as the chat menus: the phone has no buttons, so it says what each key does
("For draws and results, press 1"), and the caller answers with the keypad (0 is always a person).
A flow may word it its own way with the phrase `press` ({label} and {key}).
"""

from __future__ import annotations

from collections.abc import Mapping

from helpline.domain.flows.model import Flow, LocalText, Node, localised

PRESS: LocalText = {
    "ru": "{label} — нажмите {key}.",
    "en": "For {label}, press {key}.",
    "ar": "لاختيار «{label}» اضغط {key}.",
}
#: Phone keys that are read as words rather than as digits.
KEY_NAMES: Mapping[str, LocalText] = {
    "*": {"ru": "звёздочку", "en": "star", "ar": "النجمة"},
    "#": {"ru": "решётку", "en": "hash", "ar": "المربع"},
}


def spoken_key(digit: str, language: str) -> str:
    names = KEY_NAMES.get(digit)
    return localised(names, language) if names else digit


def spoken_menu(flow: Flow, node: Node, language: str) -> str:
    """What the phone says at `node` in `language`."""
    template = localised(flow.phrases.get("press") or PRESS, language)
    said = [localised(node.prompt, language)]
    for option in node.options:
        # Plain replacement, not str.format: a label is text, never a template.
        label = localised(option.label, language)
        said.append(template.replace("{label}", label).replace("{key}", spoken_key(option.digit, language)))
    return " ".join(s for s in said if s)
