"""Swedish text for qlongbench tasks, written by the project.

Filler (verb second): subject + verb (preterite, no particle verbs) + optional time + object +
place + optional clause; every slot carries its own article and adjective forms.
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "Den gamle mjölnaren", "En ung sjöman", "Byns lärarinna", "Min granne", "Bagarens dotter",
    "En trött resenär", "Kommunfullmäktige", "Vår mormor", "Nattvakten", "Ett nyfiket barn", "Flodlotsen",
    "Museivakten", "En tystlåten student", "Stationsföreståndaren", "Trädgårdsmästaren",
    "En kringvandrande musikant", "Hamnskrivaren", "Snickaren", "En pensionerad kapten", "Bibliotekarien",
)
_VERBS = (
    "lagade", "målade", "bar", "beskrev", "glömde", "sålde", "lånade", "mätte", "putsade", "fotograferade",
    "räknade", "beundrade", "studerade", "hittade", "tecknade", "undersökte",
)
_TIMES = (
    "tidigt på morgonen", "efter stormen", "före middagen", "en regnig tisdag", "i höstas", "under festen",
    "sent på kvällen", "i början av våren", "efter en lång dag", "på söndagseftermiddagen",
)
_OBJECTS = (
    "den gamla trägrinden", "en korg med äpplen", "den trasiga lyktan", "en gammal karta över kusten",
    "den blå cykeln", "ett brev från huvudstaden", "köksklockan", "ett par läderstövlar", "fisknäten",
    "en burk honung", "kyrkklockorna", "en låda frön", "stenbron", "en tung vinterrock",
    "trädgårdsstaketet", "en trave tidningar", "den höga stegen",
)
_PLACES = (
    "vid torget", "bakom skolan", "nere vid ån", "i den smala gränden", "i hamnen", "uppe på kullen",
    "inne i ladan", "under den gamla eken", "bredvid järnvägen", "på gårdsplanen", "längs kanalen",
    "i skogsbrynet",
)
_CLAUSES = (
    ", och ingen sa ett ord om saken", ", eftersom vädret äntligen hade slagit om",
    ", fast arbetet gick långsamt", ", medan hundarna sov i skuggan", ", medan molnen drog fram över dalen",
    ", så att grannarna kunde se det", ", innan någon annan hade vaknat", ", innan den första snön föll",
)


_FACTS = FactTemplates(
    given_names=("Anna", "Björn", "Cecilia", "David", "Elin", "Fredrik", "Greta", "Henrik", "Ida", "Johan", "Karin",
                 "Lars", "Maja", "Nils", "Olof", "Petra", "Sara", "Tove", "Ulf", "Viktor", "Agnes", "Erik",
                 "Linnea", "Oskar"),
    family_names=("Andersson", "Berg", "Dahl", "Ek", "Forsberg", "Holm", "Johansson", "Karlsson", "Lind",
                  "Lundqvist", "Nilsson", "Nyberg", "Persson", "Sandberg", "Sjöberg", "Strand", "Ström", "Wallin",
                  "Åberg", "Lindgren", "Hedlund", "Bergström", "Engström", "Falk"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Göteborg", "Malmö", "Uppsala", "Lund", "Umeå", "Luleå", "Kiruna", "Visby", "Örebro", "Västerås",
            "Linköping", "Norrköping", "Jönköping", "Gävle", "Karlstad", "Växjö", "Kalmar", "Sundsvall"),
    pets=("Sixten", "Tassen", "Bamse", "Ludde", "Molly", "Sigge", "Totte", "Nala", "Majken", "Zorro", "Bella",
          "Doris", "Frasse", "Kajsa", "Love", "Rufus"),
    city_fact="{name} bor i {city}.",
    pet_fact="{name} har en hund som heter {pet}.",
    number_fact="Favorittalet för {name} är {number}.",
    city_question="I vilken stad bor {name}?",
    pet_question="Vad heter hunden som {name} har?",
    number_question="Vilket är favorittalet för {name}?",
    rag_instruction="Besvara frågan utifrån de givna dokumenten. Ge bara svaret och inga andra ord.",
    question_label="Fråga:",
    answer_label="Svar:",
    facts_instruction=("Följande text blandar vardagliga meningar med några viktiga fakta om namngivna personer. "
                       "Läs den noga."),
    facts_question="Räkna upp alla viktiga fakta om namngivna personer i texten ovan, ett faktum per rad.",
    summary_instruction="Sammanfatta följande dokument kortfattat.",
    summary_question="Skriv nu en kortfattad sammanfattning av dokumentet ovan.",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "äpple", "päron", "banan", "körsbär", "citron", "tomat", "morot", "lök", "ost", "smör", "bröd", "kaka",
        "socker", "salt", "honung", "kaffe", "mjölk", "soppa", "fönster", "bord", "stol", "lampa", "spegel",
        "matta", "kudde", "filt", "nyckel", "väska", "resväska", "paraply", "kappa", "jacka", "skjorta", "sko",
        "stövel", "handske", "hatt", "glasögon", "klocka", "ljus", "lykta", "stege", "hammare", "spade", "hink",
        "korg", "flaska", "mugg", "tallrik", "sked", "gaffel", "kniv", "bok", "penna", "brev", "karta",
        "tidning", "cykel", "båt", "bro", "torn", "slott", "trädgård", "skog", "äng", "flod", "berg", "ö",
        "strand", "öken", "moln", "regn", "snö", "åska", "sol", "måne", "stjärna", "vinter", "sommar", "vår",
        "höst", "hund", "katt", "häst", "ko", "får", "get", "räv", "varg", "björn", "hare", "mus", "uggla",
        "örn", "korp", "duva", "anka", "gås", "fisk", "groda", "snigel", "bi", "myra", "spindel", "modig",
        "lugn", "klok", "glad", "vänlig", "ärlig", "snabb", "långsam", "klar", "mörk", "varm", "kall", "gammal",
        "ny", "bitter", "söt", "tung", "lätt", "gyllene", "dansa", "sjunga", "springa", "simma", "läsa",
        "skriva", "måla", "vandra", "viska", "klättra", "bygga", "resa",
    ),
    cwe_instruction='Nedan finns en numrerad lista med ord. Vissa av orden förekommer oftare än andra. Lägg på minnet de ord som förekommer oftast.',
    cwe_question='Fråga: Vilka är de {n} vanligaste orden i listan ovan?',
    cwe_answer_prefix='Svar: De {n} ord som förekommer oftast i listan är:',
    fwe_instruction='Läs följande kodade text och håll räkningen på hur ofta varje kodat ord förekommer. Hitta de tre kodade ord som förekommer oftast.',
    fwe_question="Fråga: Ge ingen förklaring. Bortse från punkterna '....'. Vilka tre ord förekommer oftast i den kodade texten ovan?",
    fwe_answer_prefix='Svar: Enligt den kodade texten ovan är de tre ord som förekommer oftast:',
    vt_instruction='Lägg på minnet och följ den eller de kedjor av variabeltilldelningar som är gömda i följande text.',
    vt_question='Fråga: Hitta alla variabler som tilldelas värdet {value} i texten ovan.',
    vt_answer_prefix='Svar: Enligt kedjan eller kedjorna av variabeltilldelningar i texten ovan tilldelas {n} variabler värdet {value}, nämligen:',
)


LANGUAGE = Language(
    code="sv",
    name="Swedish",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "I följande text finns några speciella magiska tal gömda. Se till att komma ihåg dem. "
        "Jag kommer att ställa frågor om talen efteråt."
    ),
    needle="Ett av de speciella magiska talen för {key} är: {value}.",
    question="Vilket är det speciella magiska talet för {key} som nämns i den givna texten?",
    question_multivalue="Vilka är alla de speciella magiska talen för {key} som nämns i den givna texten?",
    question_multiquery="Vilka är de speciella magiska talen för {keys} som nämns i den givna texten?",
    none_rule="Om texten inte nämner något speciellt magiskt tal för {key}, svara ”{none}”.",
    answer_prefix="Det speciella magiska talet för {key} som nämns i den givna texten är",
    none_words=("inget", "inget tal", "nämns inte", "ingenting"),
    keys=(
        "äpple", "flod", "lykta", "fiol", "hamn", "äng", "kompass", "falk", "peppar", "glaciär",
        "fönster", "åska", "sadel", "fruktträdgård", "kiselsten", "ljus", "spegel", "ankare", "filt", "tulpan",
        "valnöt", "skorsten", "rosett", "skörd", "kittel", "marmor", "fjäder", "holme", "stege", "papegoja",
        "tupp", "ryggsäck", "tekanna", "paraply", "sammet", "visselpipa", "yoghurt", "ekollon", "hink",
        "delfin", "glöd", "citron", "körsbär", "lejon", "trumma",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES, time_at=2),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
