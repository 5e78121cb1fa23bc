"""Polish text for qlongbench tasks, written by the project.

Filler: subject + optional time + verb + object + place + optional clause. Every subject is a
masculine singular noun phrase and every verb a masculine singular past form (naprawił ...), so
gender agreement always holds; objects are written in the accusative every verb here governs.
Keys stay in the nominative: templates quote them after "dla słowa" ("for the word").
"""

from __future__ import annotations

import random

from qlongbench.tasks.languages import Language

_SUBJECTS = (
    "Stary młynarz", "Młody marynarz", "Wiejski nauczyciel", "Mój sąsiad", "Syn piekarza", "Zmęczony wędrowiec",
    "Nocny stróż", "Ciekawski chłopiec", "Stary flisak", "Kustosz muzeum", "Cichy student", "Zawiadowca stacji",
    "Ogrodnik", "Wędrowny grajek", "Urzędnik portowy", "Cieśla", "Emerytowany kapitan", "Bibliotekarz",
    "Nasz dziadek", "Wiejski kowal",
)
_TIMES = (
    "wczesnym rankiem", "po burzy", "przed kolacją", "w deszczowy wtorek", "zeszłej jesieni",
    "podczas festynu", "późno w nocy", "w pierwszym tygodniu wiosny", "po długim dniu",
    "w niedzielne popołudnie",
)
_VERBS = (
    "naprawił", "pomalował", "przyniósł", "opisał", "sprzedał", "pożyczył", "zmierzył", "wyczyścił",
    "sfotografował", "przeliczył", "obejrzał", "znalazł", "zapakował", "oddał", "narysował",
)
_OBJECTS = (
    "drewnianą bramę", "kosz jabłek", "zepsutą latarnię", "starą mapę wybrzeża", "niebieski rower",
    "list ze stolicy", "kuchenny zegar", "parę skórzanych butów", "sieci rybackie", "słoik miodu",
    "kościelny dzwon", "pudełko nasion", "kamienny mostek", "ciężki zimowy płaszcz", "ogrodowy płot",
    "stos gazet", "wysoką drabinę",
)
_PLACES = (
    "przy rynku", "za szkołą", "nad rzeką", "w wąskiej uliczce", "w porcie", "na wzgórzu", "w stodole",
    "pod starym dębem", "obok torów kolejowych", "na placu", "wzdłuż kanału", "na skraju lasu",
)
_CLAUSES = (
    " i nikt nie powiedział o tym ani słowa", ", bo pogoda wreszcie się zmieniła", ", choć praca szła powoli",
    ", podczas gdy psy spały w cieniu", ", gdy nad doliną sunęły chmury", ", żeby sąsiedzi mogli to zobaczyć",
    ", zanim ktokolwiek inny się obudził", ", a potem wszyscy wrócili do domu na herbatę",
)


def _filler(rng: random.Random) -> str:
    parts = [rng.choice(_SUBJECTS)]
    if rng.random() < 0.5:
        parts.append(rng.choice(_TIMES))
    parts += [rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_PLACES)]
    sentence = " ".join(parts)
    if rng.random() < 0.4:
        sentence += rng.choice(_CLAUSES)
    return sentence + "."


LANGUAGE = Language(
    code="pl",
    name="Polish",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "W poniższym tekście ukryto kilka specjalnych magicznych liczb. Koniecznie je zapamiętaj. "
        "Później zadam ci pytania o te liczby."
    ),
    needle="Jedna ze specjalnych magicznych liczb dla słowa „{key}” to: {value}.",
    question="Jaka specjalna magiczna liczba dla słowa „{key}” została wymieniona w podanym tekście?",
    question_multivalue="Jakie są wszystkie specjalne magiczne liczby dla słowa „{key}” wymienione w podanym tekście?",
    question_multiquery="Jakie specjalne magiczne liczby wymieniono w podanym tekście dla następujących słów: {keys}?",
    none_rule="Jeśli tekst nie wymienia żadnej specjalnej magicznej liczby dla słowa „{key}”, odpowiedz „{none}”.",
    answer_prefix="Specjalna magiczna liczba dla słowa „{key}” wymieniona w podanym tekście to",
    none_words=("brak", "żadna", "brak liczby", "nie wymieniono"),
    keys=(
        "jabłko", "rzeka", "latarnia", "skrzypce", "port", "łąka", "kompas", "sokół", "pieprz", "lodowiec",
        "okno", "grzmot", "siodło", "sad", "kamyk", "świeca", "lustro", "kotwica", "koc", "tulipan",
        "orzech", "komin", "wstążka", "żniwa", "czajnik", "marmur", "pióro", "wyspa", "drabina", "papuga",
        "kamieniołom", "kogut", "tornister", "imbryk", "parasol", "aksamit", "gwizdek", "jogurt", "żołądź",
        "wiadro", "delfin", "cytryna", "wiśnia", "bęben", "motyl",
    ),
    filler=_filler,
)
