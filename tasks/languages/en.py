"""English text for qlongbench tasks, written by the project."""

from __future__ import annotations

import random

from qlongbench.tasks.languages import Language

_SUBJECTS = (
    "The old miller", "A young sailor", "The village teacher", "My neighbour", "The baker's daughter",
    "A tired traveller", "The city council", "Our grandmother", "The night guard", "A curious child",
    "The river pilot", "The museum keeper", "A quiet student", "The station master", "The gardener",
    "A wandering musician", "The harbour clerk", "The carpenter", "A retired captain", "The librarian",
)
_VERBS = (
    "repaired", "painted", "carried", "described", "forgot", "remembered", "sold", "borrowed",
    "measured", "cleaned", "photographed", "counted", "wrapped", "returned", "admired", "studied",
)
_OBJECTS = (
    "the wooden gate", "a basket of apples", "the broken lantern", "an old map of the coast",
    "the blue bicycle", "a letter from the capital", "the kitchen clock", "a pair of leather boots",
    "the fishing nets", "a jar of honey", "the church bells", "a box of seeds", "the stone bridge",
    "a heavy winter coat", "the garden fence", "a stack of newspapers", "the tall ladder",
)
_PLACES = (
    "near the market", "behind the school", "by the river", "in the narrow street", "at the harbour",
    "on the hill", "inside the barn", "under the oak tree", "beside the railway", "in the square",
    "along the canal", "at the edge of the forest",
)
_TIMES = (
    "early in the morning", "after the storm", "before supper", "on a rainy Tuesday", "last autumn",
    "during the festival", "late at night", "in the first week of spring", "after a long day",
    "while the bells were ringing",
)
_CLAUSES = (
    "and nobody said a word about it", "because the weather had finally changed",
    "although the work was slow", "while the dogs slept in the shade",
    "as the clouds drifted over the valley", "so that the neighbours could see it",
    "before anyone else woke up", "and then went home for tea",
)


def _filler(rng: random.Random) -> str:
    sentence = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_PLACES)}"
    if rng.random() < 0.5:
        sentence += f" {rng.choice(_TIMES)}"
    if rng.random() < 0.4:
        sentence += f", {rng.choice(_CLAUSES)}"
    return sentence + "."


LANGUAGE = Language(
    code="en",
    name="English",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "Some special magic numbers are hidden within the following text. Make sure to memorize "
        "them. I will quiz you about the numbers afterwards."
    ),
    needle="One of the special magic numbers for {key} is: {value}.",
    question="What is the special magic number for {key} mentioned in the provided text?",
    question_multivalue="What are all the special magic numbers for {key} mentioned in the provided text?",
    question_multiquery="What are the special magic numbers for {keys} mentioned in the provided text?",
    none_rule="If the text mentions no special magic number for {key}, answer \"{none}\".",
    answer_prefix="The special magic number for {key} mentioned in the provided text is",
    none_words=("none", "no number", "not mentioned", "nothing"),
    keys=(
        "apple", "river", "lantern", "violin", "harbour", "meadow", "compass", "falcon", "pepper",
        "glacier", "window", "thunder", "saddle", "orchard", "pebble", "candle", "mirror", "anchor",
        "blanket", "tulip", "walnut", "chimney", "ribbon", "harvest", "kettle", "marble", "feather",
        "island", "ladder", "parrot", "quarry", "rooster", "satchel", "teapot", "umbrella", "velvet",
        "whistle", "yogurt", "zipper", "acorn", "bucket", "cobble", "dolphin", "ember", "fiddle",
    ),
    filler=_filler,
)
