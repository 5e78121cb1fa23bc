"""Finnish text for qlongbench tasks, written by the project.

Filler: subject + verb (past, 3rd person singular) + object + place + optional time + optional
clause. Objects are all in the partitive, which every verb here accepts (an ongoing or partial
action), so no object case depends on the verb. Keys stay in the nominative: templates quote them
after "sanan"/"sanalle" ("of/for the word").
"""

from __future__ import annotations

from qlongbench.tasks.languages import Filler, Language

_SUBJECTS = (
    "Vanha mylläri", "Nuori merimies", "Kylän opettaja", "Naapurini", "Leipurin tytär", "Väsynyt matkalainen",
    "Kaupunginvaltuusto", "Isoäitimme", "Yövartija", "Utelias lapsi", "Jokiluotsi", "Museon vahtimestari",
    "Hiljainen opiskelija", "Asemapäällikkö", "Puutarhuri", "Kiertävä muusikko", "Satamakirjuri", "Puuseppä",
    "Eläkkeellä oleva kapteeni", "Kirjastonhoitaja",
)
_VERBS = (
    "korjasi", "maalasi", "kantoi", "kuvaili", "mittasi", "puhdisti", "valokuvasi", "ihaili", "tutki", "etsi",
    "katseli", "kuljetti", "piirsi", "siirteli",
)
_OBJECTS = (
    "puista porttia", "omenakoria", "rikkinäistä lyhtyä", "vanhaa rannikkokarttaa", "sinistä polkupyörää",
    "pääkaupungista tullutta kirjettä", "keittiön kelloa", "nahkasaappaita", "kalaverkkoja", "hunajapurkkia",
    "kirkonkelloja", "siemenlaatikkoa", "kivisiltaa", "raskasta talvitakkia", "puutarhan aitaa",
    "sanomalehtipinoa", "korkeita tikkaita",
)
_PLACES = (
    "torin lähellä", "koulun takana", "joen rannalla", "kapealla kujalla", "satamassa", "mäen päällä",
    "ladossa", "vanhan tammen alla", "rautatien vieressä", "aukiolla", "kanavan varrella", "metsän laidassa",
)
_TIMES = (
    "varhain aamulla", "myrskyn jälkeen", "ennen illallista", "eräänä sateisena tiistaina", "viime syksynä",
    "juhlien aikana", "myöhään illalla", "kevään ensimmäisellä viikolla", "pitkän päivän jälkeen",
    "kirkonkellojen soidessa",
)
_CLAUSES = (
    " eikä kukaan sanonut siitä sanaakaan", ", koska sää oli vihdoin muuttunut", ", vaikka työ edistyi hitaasti",
    " sillä aikaa kun koirat nukkuivat varjossa", ", kun pilvet ajelehtivat laakson yllä",
    ", jotta naapurit näkisivät sen", " ennen kuin kukaan muu heräsi", " ja lähti sitten kotiin juomaan teetä",
)


LANGUAGE = Language(
    code="fi",
    name="Finnish",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "Seuraavaan tekstiin on kätketty joitakin erityisiä taikalukuja. Muista ne tarkasti. "
        "Kysyn sinulta niistä myöhemmin."
    ),
    needle="Yksi sanan ”{key}” erityisistä taikaluvuista on: {value}.",
    question="Mikä on annetussa tekstissä mainittu sanan ”{key}” erityinen taikaluku?",
    question_multivalue="Mitkä ovat kaikki annetussa tekstissä mainitut sanan ”{key}” erityiset taikaluvut?",
    question_multiquery="Mitkä ovat annetussa tekstissä mainitut erityiset taikaluvut seuraaville sanoille: {keys}?",
    none_rule="Jos tekstissä ei mainita sanalle ”{key}” yhtään erityistä taikalukua, vastaa ”{none}”.",
    answer_prefix="Annetussa tekstissä mainittu sanan ”{key}” erityinen taikaluku on",
    none_words=("ei mitään", "ei lukua", "ei mainittu", "ei yhtään"),
    keys=(
        "omena", "joki", "lyhty", "viulu", "satama", "niitty", "kompassi", "haukka", "pippuri", "jäätikkö",
        "ikkuna", "ukkonen", "satula", "hedelmätarha", "kynttilä", "peili", "ankkuri", "peitto", "tulppaani",
        "saksanpähkinä", "savupiippu", "nauha", "sato", "vedenkeitin", "marmori", "höyhen", "saari", "tikapuut",
        "papukaija", "louhos", "kukko", "reppu", "teekannu", "sateenvarjo", "sametti", "pilli", "jogurtti",
        "tammenterho", "ämpäri", "delfiini", "hiillos", "sitruuna", "kirsikka", "leijona", "rumpu",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES),
    fact_templates=None,
)
