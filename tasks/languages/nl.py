"""Dutch text for qlongbench tasks, written by the project.

Filler: subject + verb (past tense, never a separable verb) + optional time + object + place +
optional clause (subordinate clauses are complete, verb-final fragments).
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "De oude molenaar", "Een jonge zeeman", "De dorpsonderwijzeres", "Mijn buurman", "De dochter van de bakker",
    "Een vermoeide reiziger", "De gemeenteraad", "Onze grootmoeder", "De nachtwaker", "Een nieuwsgierig kind",
    "De rivierloods", "De museumbewaarder", "Een stille student", "De stationschef", "De tuinman",
    "Een rondtrekkende muzikant", "De havenklerk", "De timmerman", "Een gepensioneerde kapitein",
    "De bibliothecaresse",
)
_VERBS = (
    "repareerde", "schilderde", "droeg", "beschreef", "vergat", "verkocht", "leende", "mat", "poetste",
    "fotografeerde", "telde", "bewonderde", "bestudeerde", "vond", "verpakte", "tekende",
)
_TIMES = (
    "vroeg in de ochtend", "na de storm", "voor het avondeten", "op een regenachtige dinsdag", "vorige herfst",
    "tijdens het feest", "laat in de nacht", "in de eerste week van de lente", "na een lange dag",
    "op zondagmiddag",
)
_OBJECTS = (
    "het houten hek", "een mand met appels", "de kapotte lantaarn", "een oude kaart van de kust",
    "de blauwe fiets", "een brief uit de hoofdstad", "de keukenklok", "een paar leren laarzen", "de visnetten",
    "een pot honing", "de kerkklokken", "een doos zaden", "de stenen brug", "een zware winterjas",
    "de tuinpoort", "een stapel kranten", "de hoge ladder",
)
_PLACES = (
    "bij de markt", "achter de school", "aan de rivier", "in de smalle straat", "in de haven", "op de heuvel",
    "in de schuur", "onder de oude eik", "naast het spoor", "op het plein", "langs de gracht",
    "aan de rand van het bos",
)
_CLAUSES = (
    ", en niemand zei er een woord over", ", omdat het weer eindelijk was omgeslagen",
    ", hoewel het werk maar langzaam vorderde", ", terwijl de honden in de schaduw sliepen",
    ", terwijl de wolken over het dal dreven", ", zodat de buren het konden zien",
    ", voordat iemand anders wakker werd", ", voordat de eerste sneeuw viel",
)


_FACTS = FactTemplates(
    given_names=("Anouk", "Bram", "Daan", "Eva", "Femke", "Gijs", "Hanna", "Ivo", "Joris", "Kim", "Lotte", "Maarten",
                 "Noor", "Olaf", "Pieter", "Roos", "Sander", "Tessa", "Wouter", "Yara", "Lieke", "Thijs", "Mila",
                 "Ruben"),
    family_names=("Bakker", "Bosman", "Claassen", "Dekker", "Evers", "Groen", "Hendriks", "Jansen", "Kuipers",
                  "Lammers", "Meijer", "Mulder", "Peters", "Post", "Smit", "Timmermans", "Verhoeven", "Visser", "Vos",
                  "Willems", "Brouwer", "Koster", "Hoekstra", "Schouten"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Utrecht", "Leiden", "Haarlem", "Groningen", "Delft", "Zwolle", "Arnhem", "Nijmegen", "Maastricht",
            "Tilburg", "Breda", "Eindhoven", "Alkmaar", "Deventer", "Amersfoort", "Gouda", "Assen", "Middelburg"),
    pets=("Bobbie", "Max", "Rakker", "Snuf", "Pluto", "Boef", "Guus", "Saar", "Kees", "Tommie", "Bolle", "Flip",
          "Dribbel", "Loebas", "Joep", "Pien"),
    city_fact="{name} woont in {city}.",
    pet_fact="{name} heeft een hond die {pet} heet.",
    number_fact="Het lievelingsgetal van {name} is {number}.",
    city_question="In welke stad woont {name}?",
    pet_question="Hoe heet de hond van {name}?",
    number_question="Wat is het lievelingsgetal van {name}?",
    rag_instruction=("Beantwoord de vraag op basis van de gegeven documenten. Geef alleen het antwoord en gebruik "
                     "geen andere woorden."),
    question_label="Vraag:",
    answer_label="Antwoord:",
    facts_instruction=("De volgende tekst mengt alledaagse zinnen met enkele belangrijke feiten over personen die "
                       "bij naam genoemd worden. Lees hem aandachtig."),
    facts_question=("Som alle belangrijke feiten over bij naam genoemde personen uit de tekst hierboven op, "
                    "één feit per regel."),
    summary_instruction="Vat het volgende document beknopt samen.",
    summary_question="Schrijf nu een beknopte samenvatting van het document hierboven.",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "appel", "peer", "banaan", "kers", "citroen", "tomaat", "wortel", "ui", "kaas", "boter", "brood",
        "taart", "suiker", "zout", "honing", "koffie", "melk", "soep", "raam", "tafel", "stoel", "lamp",
        "spiegel", "tapijt", "kussen", "deken", "sleutel", "tas", "koffer", "paraplu", "jas", "hemd", "schoen",
        "laars", "handschoen", "hoed", "bril", "horloge", "kaars", "lantaarn", "bel", "ladder", "hamer",
        "schop", "emmer", "mand", "fles", "beker", "bord", "lepel", "vork", "mes", "boek", "potlood", "brief",
        "kaart", "krant", "fiets", "boot", "brug", "toren", "kasteel", "tuin", "bos", "weide", "rivier", "berg",
        "eiland", "strand", "woestijn", "wolk", "regen", "sneeuw", "donder", "zon", "maan", "ster", "winter",
        "zomer", "lente", "herfst", "hond", "kat", "paard", "koe", "schaap", "geit", "vos", "wolf", "beer",
        "konijn", "muis", "uil", "adelaar", "raaf", "duif", "eend", "gans", "vis", "kikker", "slak", "bij",
        "mier", "spin", "dapper", "kalm", "slim", "vrolijk", "vriendelijk", "eerlijk", "snel", "traag",
        "helder", "donker", "warm", "koud", "oud", "nieuw", "bitter", "zoet", "zwaar", "licht", "gouden",
        "dansen", "zingen", "rennen", "zwemmen", "lezen", "schrijven", "schilderen", "wandelen", "fluisteren",
        "klimmen", "bouwen", "reizen",
    ),
    cwe_instruction='Hieronder staat een genummerde lijst met woorden. Sommige van deze woorden komen vaker voor dan andere. Onthoud de woorden die het vaakst voorkomen.',
    cwe_question='Vraag: Wat zijn de {n} meest voorkomende woorden in de lijst hierboven?',
    cwe_answer_prefix='Antwoord: De {n} woorden die het vaakst in de lijst voorkomen, zijn:',
    fwe_instruction='Lees de volgende gecodeerde tekst en houd bij hoe vaak elk gecodeerd woord voorkomt. Zoek de drie gecodeerde woorden die het vaakst voorkomen.',
    fwe_question="Vraag: Geef geen uitleg. Negeer de puntjes '....'. Welke drie woorden komen het vaakst voor in de gecodeerde tekst hierboven?",
    fwe_answer_prefix='Antwoord: Volgens de gecodeerde tekst hierboven zijn de drie woorden die het vaakst voorkomen:',
    vt_instruction='Onthoud en volg de keten(s) van variabeletoewijzingen die in de volgende tekst verborgen zijn.',
    vt_question='Vraag: Zoek alle variabelen waaraan in de tekst hierboven de waarde {value} wordt toegekend.',
    vt_answer_prefix='Antwoord: Volgens de keten(s) van variabeletoewijzingen in de tekst hierboven krijgen {n} variabelen de waarde {value}, namelijk:',
)


LANGUAGE = Language(
    code="nl",
    name="Dutch",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "In de volgende tekst zijn enkele speciale magische getallen verborgen. Zorg dat u ze goed onthoudt. "
        "Daarna zal ik u vragen over deze getallen stellen."
    ),
    needle="Een van de speciale magische getallen voor {key} is: {value}.",
    question="Wat is het speciale magische getal voor {key} dat in de gegeven tekst wordt genoemd?",
    question_multivalue="Wat zijn alle speciale magische getallen voor {key} die in de gegeven tekst worden genoemd?",
    question_multiquery="Wat zijn de speciale magische getallen voor {keys} die in de gegeven tekst worden genoemd?",
    none_rule="Als de tekst geen speciaal magisch getal voor {key} noemt, antwoord dan \"{none}\".",
    answer_prefix="Het speciale magische getal voor {key} dat in de gegeven tekst wordt genoemd, is",
    none_words=("geen", "geen getal", "niet genoemd", "niets"),
    keys=(
        "appel", "rivier", "lantaarn", "viool", "haven", "weide", "kompas", "valk", "peper", "gletsjer",
        "raam", "donder", "zadel", "boomgaard", "kiezel", "kaars", "spiegel", "anker", "deken", "tulp",
        "walnoot", "schoorsteen", "lint", "oogst", "ketel", "knikker", "veer", "eiland", "ladder", "papegaai",
        "groeve", "haan", "schooltas", "theepot", "paraplu", "fluweel", "fluitje", "yoghurt", "eikel", "emmer",
        "dolfijn", "sintel", "citroen", "kers", "trommel",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES, time_at=2),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
