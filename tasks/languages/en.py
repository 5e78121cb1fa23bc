"""English text for qlongbench tasks, written by the project."""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

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


_FACTS = FactTemplates(
    given_names=("Amara", "Bruno", "Clara", "Dmitri", "Elena", "Felix", "Greta", "Hugo", "Ingrid", "Jonas", "Katya",
                 "Lionel", "Mira", "Nils", "Olive", "Pavel", "Quinn", "Rosa", "Silas", "Tamsin", "Ulric", "Vera",
                 "Wendell", "Yara"),
    family_names=("Ashdown", "Blackwood", "Castellan", "Dunmore", "Everly", "Fairweather", "Greenhalgh", "Hollis",
                  "Ives", "Jarrow", "Kettering", "Lockhart", "Merriweather", "Northcott", "Oakhurst", "Pendleton",
                  "Quarles", "Ravenscroft", "Sutcliffe", "Thornbury", "Underwood", "Vance", "Whitlock", "Yardley"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Lisbon", "Glasgow", "Toronto", "Melbourne", "Dublin", "Cardiff", "Boston", "Denver", "Auckland", "Leeds",
            "Bristol", "Ottawa", "Chicago", "Seattle", "Perth", "Belfast", "Halifax", "Memphis"),
    pets=("Biscuit", "Pepper", "Rusty", "Maple", "Juniper", "Waffles", "Ziggy", "Clover", "Bramble", "Nutmeg",
          "Pickle", "Toffee", "Sprout", "Marlow", "Ollie", "Dotty"),
    city_fact="{name} lives in {city}.",
    pet_fact="{name} has a dog named {pet}.",
    number_fact="{name}'s favourite number is {number}.",
    city_question="In which city does {name} live?",
    pet_question="What is the name of {name}'s dog?",
    number_question="What is {name}'s favourite number?",
    rag_instruction=("Answer the question based on the given documents. Only give me the answer and do not "
                     "output any other words."),
    question_label="Question:",
    answer_label="Answer:",
    facts_instruction=("The following text mixes everyday sentences with a few key facts about people who are "
                       "named. Read it carefully."),
    facts_question="List every key fact about a named person in the text above, one fact per line.",
    summary_instruction="Write a concise summary of the following document.",
    summary_question="Now write a concise summary of the document above.",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "apple", "river", "garden", "window", "candle", "bridge", "forest", "mountain", "kettle", "blanket",
        "ladder", "pencil", "basket", "carpet", "castle", "cheese", "cloud", "coffee", "cotton", "desert",
        "dragon", "engine", "feather", "finger", "flower", "guitar", "hammer", "harbor", "helmet", "island",
        "jacket", "jungle", "kitten", "lemon", "magnet", "meadow", "mirror", "monkey", "needle", "ocean",
        "orange", "pepper", "pillow", "planet", "pocket", "rabbit", "ribbon", "rocket", "saddle", "silver",
        "spider", "stone", "tiger", "tomato", "tunnel", "valley", "violin", "wagon", "wallet", "whistle",
        "winter", "wizard", "yogurt", "zebra", "anchor", "bottle", "button", "cabbage", "camera", "canyon",
        "chimney", "compass", "copper", "cradle", "dolphin", "falcon", "glacier", "hammock", "lantern",
        "lobster", "marble", "muffin", "napkin", "oyster", "parrot", "pebble", "puzzle", "quilt", "raven",
        "salmon", "shovel", "spoon", "sugar", "thunder", "tulip", "turtle", "walnut", "brave", "calm", "clever",
        "eager", "gentle", "happy", "honest", "humble", "lively", "lucky", "polite", "proud", "quiet", "rapid",
        "shiny", "silent", "steady", "sturdy", "tender", "vivid", "bitter", "bright", "narrow", "hollow",
        "fragile", "golden", "wooden", "frozen", "ancient", "curious", "borrow", "carry", "dance", "gather",
        "giggle", "juggle", "listen", "mumble", "paint", "polish", "scatter", "stumble", "swallow", "wander",
        "whisper", "wobble", "climb", "build", "travel", "follow",
    ),
    cwe_instruction='Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.',
    cwe_question='Question: What are the {n} most common words in the above list?',
    cwe_answer_prefix='Answer: The top {n} words that appear most often in the list are:',
    fwe_instruction='Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words.',
    fwe_question="Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?",
    fwe_answer_prefix='Answer: According to the coded text above, the three most frequently appeared words are:',
    vt_instruction='Memorize and track the chain(s) of variable assignment hidden in the following text.',
    vt_question='Question: Find all variables that are assigned the value {value} in the text above.',
    vt_answer_prefix='Answer: According to the chain(s) of variable assignment in the text above, {n} variables are assigned the value {value}, they are:',
)


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
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES,
                  clause_joiner=", "),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
