"""Italian text for qlongbench tasks, written by the project.

Filler: subject + verb (passato prossimo with avere, participle invariable as the object follows)
+ object + place + optional time + optional clause; every slot carries its own article.
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "Il vecchio mugnaio", "Un giovane marinaio", "La maestra del paese", "Il mio vicino", "La figlia del fornaio",
    "Un viaggiatore stanco", "Il consiglio comunale", "Nostra nonna", "Il guardiano notturno",
    "Un bambino curioso", "Il barcaiolo del fiume", "Il custode del museo", "Una studentessa silenziosa",
    "Il capostazione", "Il giardiniere", "Un musicista girovago", "L'impiegato del porto", "Il falegname",
    "Un capitano in pensione", "La bibliotecaria",
)
_VERBS = (
    "ha riparato", "ha dipinto", "ha portato", "ha descritto", "ha dimenticato", "ha venduto",
    "ha preso in prestito", "ha misurato", "ha pulito", "ha fotografato", "ha contato", "ha ammirato",
    "ha esaminato", "ha restituito", "ha ritrovato", "ha disegnato",
)
_OBJECTS = (
    "il cancello di legno", "un cesto di mele", "la lanterna rotta", "una vecchia mappa della costa",
    "la bicicletta blu", "una lettera dalla capitale", "l'orologio della cucina", "un paio di stivali di cuoio",
    "le reti da pesca", "un vasetto di miele", "le campane della chiesa", "una scatola di semi",
    "il ponte di pietra", "un pesante cappotto invernale", "la recinzione del giardino", "una pila di giornali",
    "la scala alta",
)
_PLACES = (
    "vicino al mercato", "dietro la scuola", "sulla riva del fiume", "nella via stretta", "al porto",
    "sulla collina", "dentro il fienile", "sotto la vecchia quercia", "accanto alla ferrovia", "in piazza",
    "lungo il canale", "al limitare del bosco",
)
_TIMES = (
    "di buon mattino", "dopo il temporale", "prima di cena", "un martedì piovoso", "l'autunno scorso",
    "durante la festa", "a tarda notte", "nella prima settimana di primavera", "dopo una lunga giornata",
    "mentre suonavano le campane",
)
_CLAUSES = (
    " e nessuno ne ha parlato", " perché il tempo era finalmente cambiato",
    ", anche se il lavoro procedeva lentamente", " mentre i cani dormivano all'ombra",
    " mentre le nuvole scorrevano sulla valle", " perché i vicini potessero vederlo",
    " prima che chiunque altro si svegliasse", ", poi tutti sono tornati a casa per cena",
)


_FACTS = FactTemplates(
    given_names=("Andrea", "Beatrice", "Carlo", "Daniela", "Enrico", "Federica", "Giorgio", "Ilaria", "Luca",
                 "Marta", "Nicola", "Orietta", "Paolo", "Rita", "Stefano", "Teresa", "Umberto", "Valeria", "Walter",
                 "Zeno", "Chiara", "Matteo", "Silvia", "Franco"),
    family_names=("Bianchi", "Colombo", "Conti", "De Luca", "Esposito", "Ferrari", "Galli", "Greco", "Lombardi",
                  "Mancini", "Marino", "Moretti", "Palumbo", "Rizzo", "Romano", "Russo", "Santoro", "Testa", "Villa",
                  "Fontana", "Caruso", "Gatti", "Barbieri", "Rinaldi"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Torino", "Genova", "Bologna", "Firenze", "Napoli", "Palermo", "Verona", "Padova", "Trieste", "Bari",
            "Parma", "Perugia", "Pisa", "Lecce", "Bergamo", "Siena", "Ancona", "Trento"),
    pets=("Fido", "Briciola", "Pippo", "Macchia", "Birba", "Tobia", "Nuvola", "Rocco", "Pallino", "Stella", "Zorro",
          "Fuffi", "Lilla", "Argo", "Bobo", "Perla"),
    city_fact="{name} abita a {city}.",
    pet_fact="{name} ha un cane di nome {pet}.",
    # No article before the number: "il 42" but "l'8", "l'11".
    number_fact="Il numero preferito di {name} è {number}.",
    city_question="In quale città abita {name}?",
    pet_question="Come si chiama il cane di {name}?",
    number_question="Qual è il numero preferito di {name}?",
    rag_instruction=("Rispondi alla domanda basandoti sui documenti forniti. Scrivi solo la risposta, senza "
                     "altre parole."),
    question_label="Domanda:",
    answer_label="Risposta:",
    facts_instruction=("Il testo seguente mescola frasi quotidiane con alcuni fatti importanti su persone indicate "
                       "per nome. Leggilo con attenzione."),
    facts_question=("Elenca tutti i fatti importanti su persone indicate per nome presenti nel testo qui sopra, "
                    "un fatto per riga."),
    summary_instruction="Riassumi in modo conciso il seguente documento.",
    summary_question="Ora scrivi un riassunto conciso del documento qui sopra.",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "mela", "pera", "banana", "ciliegia", "limone", "pomodoro", "carota", "cipolla", "formaggio", "burro",
        "pane", "torta", "zucchero", "sale", "miele", "caffè", "latte", "zuppa", "finestra", "tavolo", "sedia",
        "lampada", "specchio", "tappeto", "cuscino", "coperta", "chiave", "borsa", "valigia", "ombrello",
        "cappotto", "giacca", "camicia", "scarpa", "stivale", "guanto", "cappello", "occhiali", "orologio",
        "candela", "lanterna", "campana", "scala", "martello", "pala", "secchio", "cesto", "bottiglia", "tazza",
        "piatto", "cucchiaio", "forchetta", "coltello", "libro", "matita", "lettera", "mappa", "giornale",
        "bicicletta", "barca", "ponte", "torre", "castello", "giardino", "foresta", "prato", "fiume",
        "montagna", "isola", "spiaggia", "deserto", "nuvola", "pioggia", "neve", "tuono", "sole", "luna",
        "stella", "inverno", "estate", "primavera", "autunno", "cane", "gatto", "cavallo", "mucca", "pecora",
        "capra", "volpe", "lupo", "orso", "coniglio", "topo", "gufo", "aquila", "corvo", "colomba", "anatra",
        "oca", "pesce", "rana", "lumaca", "ape", "formica", "ragno", "coraggioso", "calmo", "abile", "allegro",
        "gentile", "onesto", "veloce", "lento", "chiaro", "scuro", "caldo", "freddo", "antico", "nuovo",
        "amaro", "dolce", "pesante", "leggero", "dorato", "ballare", "cantare", "correre", "nuotare", "leggere",
        "scrivere", "dipingere", "camminare", "sussurrare", "arrampicare", "costruire", "viaggiare",
    ),
    cwe_instruction="Di seguito c'è un elenco numerato di parole. Tra queste parole, alcune compaiono più spesso di altre. Memorizza quelle che compaiono più spesso.",
    cwe_question="Domanda: quali sono le {n} parole più frequenti nell'elenco qui sopra?",
    cwe_answer_prefix="Risposta: le {n} parole che compaiono più spesso nell'elenco sono:",
    fwe_instruction='Leggi il seguente testo cifrato e tieni il conto di quante volte compare ogni parola cifrata. Trova le tre parole cifrate che compaiono più spesso.',
    fwe_question="Domanda: non dare alcuna spiegazione. Ignora i puntini '....'. Quali sono le tre parole che compaiono più spesso nel testo cifrato qui sopra?",
    fwe_answer_prefix='Risposta: secondo il testo cifrato qui sopra, le tre parole che compaiono più spesso sono:',
    vt_instruction='Memorizza e segui la catena (o le catene) di assegnazioni di variabili nascosta nel testo seguente.',
    vt_question='Domanda: trova tutte le variabili a cui viene assegnato il valore {value} nel testo qui sopra.',
    vt_answer_prefix='Risposta: secondo la catena (o le catene) di assegnazioni di variabili nel testo qui sopra, a {n} variabili viene assegnato il valore {value}, e sono:',
)


LANGUAGE = Language(
    code="it",
    name="Italian",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "Nel testo seguente sono nascosti alcuni numeri magici speciali. Si assicuri di memorizzarli: "
        "in seguito le farò alcune domande su questi numeri."
    ),
    needle="Uno dei numeri magici speciali per {key} è: {value}.",
    question="Qual è il numero magico speciale per {key} menzionato nel testo fornito?",
    question_multivalue="Quali sono tutti i numeri magici speciali per {key} menzionati nel testo fornito?",
    question_multiquery="Quali sono i numeri magici speciali per {keys} menzionati nel testo fornito?",
    none_rule="Se il testo non menziona alcun numero magico speciale per {key}, risponda «{none}».",
    answer_prefix="Il numero magico speciale per {key} menzionato nel testo fornito è",
    none_words=("nessuno", "nessun numero", "non menzionato", "niente"),
    keys=(
        "mela", "fiume", "lanterna", "violino", "porto", "prato", "bussola", "falco", "pepe", "ghiacciaio",
        "finestra", "tuono", "sella", "frutteto", "ciottolo", "candela", "specchio", "coperta", "tulipano", "noce",
        "camino", "nastro", "raccolto", "bollitore", "marmo", "piuma", "isola", "scala", "pappagallo", "cava",
        "cartella", "teiera", "ombrello", "velluto", "fischietto", "yogurt", "ghianda", "secchio", "delfino",
        "brace", "limone", "ciliegia", "tamburo", "farfalla",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
