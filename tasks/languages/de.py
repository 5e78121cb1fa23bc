"""German text for qlongbench tasks, written by the project.

Filler: subject (nominative) + verb (preterite, 3rd person singular, accusative object, never a
separable verb so nothing is split off to the end) + optional time + object (accusative) + place
+ optional clause. Every slot carries its own article and case, so any combination agrees.
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "Der alte Müller", "Ein junger Seemann", "Die Dorflehrerin", "Mein Nachbar", "Die Tochter des Bäckers",
    "Ein müder Wanderer", "Der Stadtrat", "Unsere Großmutter", "Der Nachtwächter", "Ein neugieriges Kind",
    "Der Flusslotse", "Die Museumswärterin", "Ein stiller Student", "Der Bahnhofsvorsteher", "Die Gärtnerin",
    "Ein fahrender Musiker", "Der Hafenschreiber", "Der Zimmermann", "Ein pensionierter Kapitän",
    "Die Bibliothekarin",
)
_VERBS = (
    "reparierte", "bemalte", "trug", "beschrieb", "vergaß", "verkaufte", "lieh sich", "vermaß", "putzte",
    "fotografierte", "zählte", "bewunderte", "untersuchte", "suchte", "fand", "zeichnete",
)
_TIMES = (
    "früh am Morgen", "nach dem Sturm", "vor dem Abendessen", "an einem regnerischen Dienstag",
    "im letzten Herbst", "während des Festes", "spät in der Nacht", "in der ersten Frühlingswoche",
    "nach einem langen Tag", "am Sonntagnachmittag",
)
_OBJECTS = (
    "das hölzerne Tor", "einen Korb voller Äpfel", "die kaputte Laterne", "eine alte Karte der Küste",
    "das blaue Fahrrad", "einen Brief aus der Hauptstadt", "die Küchenuhr", "ein Paar Lederstiefel",
    "die Fischernetze", "ein Glas Honig", "die Kirchenglocken", "eine Kiste mit Samen", "die steinerne Brücke",
    "einen schweren Wintermantel", "den Gartenzaun", "einen Stapel Zeitungen", "die lange Leiter",
)
_PLACES = (
    "beim Markt", "hinter der Schule", "am Fluss", "in der engen Gasse", "im Hafen", "auf dem Hügel",
    "in der Scheune", "unter der alten Eiche", "neben den Gleisen", "auf dem Marktplatz", "am Kanal",
    "am Waldrand",
)
_CLAUSES = (
    ", und niemand sagte ein Wort dazu", ", weil das Wetter endlich umgeschlagen war",
    ", obwohl die Arbeit nur langsam voranging", ", während die Hunde im Schatten schliefen",
    ", als die Wolken über das Tal zogen", ", damit die Nachbarn es sehen konnten",
    ", bevor irgendjemand sonst aufwachte", ", bevor der erste Schnee fiel",
)


_FACTS = FactTemplates(
    given_names=("Anna", "Bernd", "Clara", "Dieter", "Elke", "Frank", "Gisela", "Heiko", "Ilse", "Jürgen", "Karin",
                 "Lukas", "Marta", "Norbert", "Olga", "Paul", "Renate", "Stefan", "Tanja", "Uwe", "Vera", "Walter",
                 "Yvonne", "Zoe"),
    family_names=("Bauer", "Becker", "Brandt", "Fischer", "Graf", "Hartmann", "Jung", "Keller", "Krüger", "Lange",
                  "Lorenz", "Maier", "Neumann", "Otto", "Roth", "Schäfer", "Schulz", "Sommer", "Vogel", "Wagner",
                  "Weber", "Winkler", "Wolf", "Ziegler"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Hamburg", "München", "Köln", "Dresden", "Leipzig", "Bremen", "Hannover", "Nürnberg", "Freiburg", "Kiel",
            "Rostock", "Münster", "Augsburg", "Bonn", "Erfurt", "Potsdam", "Mainz", "Lübeck"),
    pets=("Bello", "Rex", "Luna", "Balu", "Flocke", "Struppi", "Bruno", "Kira", "Benny", "Paula", "Emma", "Rocky",
          "Sammy", "Lotte", "Wuschel", "Fiete"),
    city_fact="{name} wohnt in {city}.",
    pet_fact="{name} hat einen Hund namens {pet}.",
    number_fact="Die Lieblingszahl von {name} ist {number}.",
    city_question="In welcher Stadt wohnt {name}?",
    pet_question="Wie heißt der Hund von {name}?",
    number_question="Was ist die Lieblingszahl von {name}?",
    rag_instruction=("Beantworte die Frage anhand der gegebenen Dokumente. Gib nur die Antwort aus und schreibe "
                     "keine weiteren Wörter."),
    question_label="Frage:",
    answer_label="Antwort:",
    facts_instruction=("Im folgenden Text stehen zwischen alltäglichen Sätzen einige wichtige Fakten über Personen, "
                       "die mit Namen genannt werden. Lies ihn aufmerksam."),
    facts_question=("Liste alle wichtigen Fakten über namentlich genannte Personen aus dem obigen Text auf, "
                    "einen Fakt pro Zeile."),
    summary_instruction="Fasse das folgende Dokument knapp zusammen.",
    summary_question="Schreibe jetzt eine knappe Zusammenfassung des obigen Dokuments.",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "Apfel", "Birne", "Banane", "Kirsche", "Zitrone", "Tomate", "Kartoffel", "Zwiebel", "Karotte", "Gurke",
        "Brot", "Käse", "Butter", "Honig", "Zucker", "Salz", "Suppe", "Kuchen", "Kaffee", "Milch", "Wasser",
        "Fenster", "Tisch", "Stuhl", "Lampe", "Spiegel", "Teppich", "Kissen", "Decke", "Schlüssel", "Tasche",
        "Koffer", "Schirm", "Mantel", "Jacke", "Hemd", "Schuh", "Stiefel", "Handschuh", "Mütze", "Brille",
        "Uhr", "Kerze", "Laterne", "Glocke", "Leiter", "Hammer", "Schaufel", "Eimer", "Korb", "Flasche",
        "Becher", "Teller", "Löffel", "Gabel", "Messer", "Buch", "Bleistift", "Brief", "Karte", "Zeitung",
        "Fahrrad", "Wagen", "Schiff", "Brücke", "Turm", "Burg", "Garten", "Wald", "Wiese", "Fluss", "Berg",
        "Insel", "Strand", "Wüste", "Wolke", "Regen", "Schnee", "Donner", "Sonne", "Mond", "Stern", "Winter",
        "Sommer", "Frühling", "Herbst", "Hund", "Katze", "Pferd", "Kuh", "Schaf", "Ziege", "Fuchs", "Wolf",
        "Bär", "Hase", "Maus", "Eule", "Adler", "Rabe", "Taube", "Ente", "Gans", "Fisch", "Frosch", "Schnecke",
        "Biene", "Ameise", "Spinne", "mutig", "ruhig", "klug", "fröhlich", "freundlich", "ehrlich", "leise",
        "schnell", "langsam", "hell", "dunkel", "warm", "kalt", "alt", "neu", "bitter", "süß", "schwer",
        "leicht", "golden", "tanzen", "singen", "laufen", "schwimmen", "lesen", "schreiben", "malen", "wandern",
        "flüstern", "sammeln", "bauen", "klettern",
    ),
    cwe_instruction='Unten steht eine nummerierte Liste von Wörtern. Einige dieser Wörter kommen häufiger vor als andere. Merken Sie sich die Wörter, die am häufigsten vorkommen.',
    cwe_question='Frage: Welches sind die {n} häufigsten Wörter in der obigen Liste?',
    cwe_answer_prefix='Antwort: Die {n} Wörter, die in der Liste am häufigsten vorkommen, sind:',
    fwe_instruction='Lesen Sie den folgenden verschlüsselten Text und zählen Sie, wie oft jedes verschlüsselte Wort vorkommt. Finden Sie die drei verschlüsselten Wörter, die am häufigsten vorkommen.',
    fwe_question="Frage: Geben Sie keine Erklärung. Ignorieren Sie die Punkte '....'. Welche drei Wörter kommen im obigen verschlüsselten Text am häufigsten vor?",
    fwe_answer_prefix='Antwort: Im obigen verschlüsselten Text kommen diese drei Wörter am häufigsten vor:',
    vt_instruction='Merken Sie sich die im folgenden Text versteckte(n) Kette(n) von Variablenzuweisungen und verfolgen Sie sie.',
    vt_question='Frage: Finden Sie alle Variablen, denen im obigen Text der Wert {value} zugewiesen wird.',
    vt_answer_prefix='Antwort: Laut der Kette(n) von Variablenzuweisungen im obigen Text wird {n} Variablen der Wert {value} zugewiesen, nämlich:',
)


LANGUAGE = Language(
    code="de",
    name="German",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "Im folgenden Text sind einige besondere magische Zahlen versteckt. Merken Sie sich diese gut. "
        "Ich werde Ihnen danach Fragen zu diesen Zahlen stellen."
    ),
    needle="Eine der besonderen magischen Zahlen für {key} lautet: {value}.",
    question="Wie lautet die besondere magische Zahl für {key}, die im vorliegenden Text erwähnt wird?",
    question_multivalue=(
        "Wie lauten alle besonderen magischen Zahlen für {key}, die im vorliegenden Text erwähnt werden?"
    ),
    question_multiquery=(
        "Wie lauten die besonderen magischen Zahlen für {keys}, die im vorliegenden Text erwähnt werden?"
    ),
    none_rule="Wenn der Text keine besondere magische Zahl für {key} erwähnt, antworten Sie „{none}“.",
    answer_prefix="Die im vorliegenden Text erwähnte besondere magische Zahl für {key} lautet",
    none_words=("keine", "keine zahl", "nicht erwähnt", "nichts"),
    keys=(
        "Apfel", "Fluss", "Laterne", "Geige", "Hafen", "Wiese", "Kompass", "Falke", "Pfeffer", "Gletscher",
        "Fenster", "Donner", "Sattel", "Kerze", "Spiegel", "Anker", "Decke", "Tulpe", "Walnuss", "Schornstein",
        "Ernte", "Kessel", "Murmel", "Feder", "Insel", "Leiter", "Papagei", "Hahn", "Ranzen", "Teekanne",
        "Regenschirm", "Samt", "Pfeife", "Joghurt", "Eichel", "Eimer", "Delfin", "Trommel", "Zitrone",
        "Kirsche", "Besen", "Gabel", "Mühle", "Schlüssel",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES, time_at=2),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
