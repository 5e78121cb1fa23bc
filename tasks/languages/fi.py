"""Finnish text for qlongbench tasks, written by the project.

Filler: subject + verb (past, 3rd person singular) + object + place + optional time + optional
clause. Objects are all in the partitive, which every verb here accepts (an ongoing or partial
action), so no object case depends on the verb. Keys stay in the nominative: templates quote them
after "sanan"/"sanalle" ("of/for the word").
"""

from __future__ import annotations

from qlongbench.tasks.languages import Filler, Language, SyntheticTemplates

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


_SYNTHETIC = SyntheticTemplates(
    words=(
        "omena", "päärynä", "banaani", "kirsikka", "sitruuna", "tomaatti", "porkkana", "sipuli", "juusto",
        "voi", "leipä", "kakku", "sokeri", "suola", "hunaja", "kahvi", "maito", "keitto", "ikkuna", "pöytä",
        "tuoli", "lamppu", "peili", "matto", "tyyny", "peitto", "avain", "laukku", "matkalaukku", "sateenvarjo",
        "takki", "paita", "kenkä", "saapas", "hansikas", "hattu", "silmälasit", "kello", "kynttilä", "lyhty",
        "tikkaat", "vasara", "lapio", "ämpäri", "kori", "pullo", "muki", "lautanen", "lusikka", "haarukka",
        "veitsi", "kirja", "lyijykynä", "kirje", "kartta", "sanomalehti", "polkupyörä", "vene", "silta",
        "torni", "linna", "puutarha", "metsä", "niitty", "joki", "vuori", "saari", "ranta", "aavikko", "pilvi",
        "sade", "lumi", "ukkonen", "aurinko", "kuu", "tähti", "talvi", "kesä", "kevät", "syksy", "koira",
        "kissa", "hevonen", "lehmä", "lammas", "vuohi", "kettu", "susi", "karhu", "jänis", "hiiri", "pöllö",
        "kotka", "korppi", "kyyhky", "ankka", "hanhi", "kala", "sammakko", "etana", "mehiläinen", "muurahainen",
        "hämähäkki", "rohkea", "rauhallinen", "viisas", "iloinen", "ystävällinen", "rehellinen", "nopea",
        "hidas", "kirkas", "tumma", "lämmin", "kylmä", "vanha", "uusi", "katkera", "makea", "raskas", "kevyt",
        "kultainen", "tanssia", "laulaa", "juosta", "uida", "lukea", "kirjoittaa", "maalata", "kävellä",
        "kuiskata", "kiivetä", "rakentaa", "matkustaa",
    ),
    cwe_instruction='Alla on numeroitu luettelo sanoista. Jotkin näistä sanoista esiintyvät useammin kuin toiset. Paina mieleesi ne sanat, jotka esiintyvät useimmin.',
    cwe_question='Kysymys: Mitkä ovat yllä olevan luettelon {n} yleisintä sanaa?',
    cwe_answer_prefix='Vastaus: Luettelossa useimmin esiintyvät {n} sanaa ovat:',
    fwe_instruction='Lue seuraava koodattu teksti ja laske, kuinka monta kertaa kukin koodattu sana esiintyy. Etsi kolme koodattua sanaa, jotka esiintyvät useimmin.',
    fwe_question="Kysymys: Älä anna mitään selitystä. Jätä pisteet '....' huomiotta. Mitkä kolme sanaa esiintyvät useimmin yllä olevassa koodatussa tekstissä?",
    fwe_answer_prefix='Vastaus: Yllä olevan koodatun tekstin mukaan kolme useimmin esiintyvää sanaa ovat:',
    vt_instruction='Paina mieleesi ja seuraa seuraavaan tekstiin piilotettua muuttujien sijoitusten ketjua (tai ketjuja).',
    vt_question='Kysymys: Etsi kaikki muuttujat, joille yllä olevassa tekstissä on annettu arvo {value}.',
    vt_answer_prefix='Vastaus: Yllä olevan tekstin sijoitusketjun (tai -ketjujen) mukaan arvo {value} on annettu {n} muuttujalle, ja ne ovat:',
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
    synthetic_templates=_SYNTHETIC,
)
