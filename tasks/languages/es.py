"""Spanish text for qlongbench tasks, written by the project.

Filler: subject + verb (pretérito, 3rd person singular) + inanimate object (so no personal "a")
+ place + optional time + optional clause; every slot carries its own article.
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "El viejo molinero", "Un joven marinero", "La maestra del pueblo", "Mi vecino", "La hija del panadero",
    "Un viajero cansado", "El ayuntamiento", "Nuestra abuela", "El vigilante nocturno", "Un niño curioso",
    "El barquero del río", "El conservador del museo", "Una estudiante callada", "El jefe de estación",
    "El jardinero", "Un músico ambulante", "El escribiente del puerto", "El carpintero", "Un capitán retirado",
    "La bibliotecaria",
)
_VERBS = (
    "reparó", "pintó", "llevó", "describió", "olvidó", "vendió", "midió", "limpió", "fotografió", "contó",
    "admiró", "examinó", "devolvió", "envolvió", "encontró", "dibujó",
)
_OBJECTS = (
    "el portón de madera", "una cesta de manzanas", "el farol roto", "un viejo mapa de la costa",
    "la bicicleta azul", "una carta de la capital", "el reloj de la cocina", "un par de botas de cuero",
    "las redes de pesca", "un tarro de miel", "las campanas de la iglesia", "una caja de semillas",
    "el puente de piedra", "un pesado abrigo de invierno", "la valla del jardín", "un montón de periódicos",
    "la escalera alta",
)
_PLACES = (
    "cerca del mercado", "detrás de la escuela", "junto al río", "en la calle estrecha", "en el puerto",
    "en la colina", "dentro del granero", "bajo el viejo roble", "al lado de las vías del tren", "en la plaza",
    "a lo largo del canal", "en el linde del bosque",
)
_TIMES = (
    "temprano por la mañana", "después de la tormenta", "antes de la cena", "un martes lluvioso",
    "el otoño pasado", "durante la fiesta", "tarde por la noche", "en la primera semana de primavera",
    "después de un largo día", "mientras sonaban las campanas",
)
_CLAUSES = (
    " y nadie dijo ni una palabra al respecto", " porque el tiempo por fin había cambiado",
    ", aunque el trabajo avanzaba despacio", " mientras los perros dormían a la sombra",
    " mientras las nubes cruzaban el valle", " para que los vecinos pudieran verlo",
    " antes de que nadie más se despertara", " y luego todos volvieron a casa a cenar",
)


_FACTS = FactTemplates(
    given_names=("Alba", "Bruno", "Carmen", "Diego", "Elena", "Fernando", "Gloria", "Hugo", "Inés", "Javier", "Lucía",
                 "Manuel", "Nuria", "Óscar", "Pilar", "Raúl", "Sara", "Tomás", "Úrsula", "Vicente", "Ximena",
                 "Yolanda", "Marcos", "Irene"),
    family_names=("Aguilar", "Blanco", "Castro", "Delgado", "Estévez", "Fuentes", "Gallego", "Herrera", "Iglesias",
                  "Jiménez", "Lozano", "Medina", "Navarro", "Ortega", "Pascual", "Quintero", "Romero", "Santos",
                  "Torres", "Vidal", "Zamora", "Cabrera", "Molina", "Rubio"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Sevilla", "Valencia", "Bilbao", "Zaragoza", "Málaga", "Granada", "Córdoba", "Salamanca", "Toledo",
            "Cádiz", "Oviedo", "Santander", "Murcia", "Burgos", "León", "Pamplona", "Valladolid", "Alicante"),
    pets=("Toby", "Canela", "Rocky", "Lola", "Chispa", "Bobi", "Nieve", "Trufa", "Simba", "Luna", "Pancho", "Coco",
          "Kira", "Thor", "Manchas", "Pipo"),
    city_fact="{name} vive en {city}.",
    pet_fact="{name} tiene un perro llamado {pet}.",
    number_fact="El número favorito de {name} es el {number}.",
    city_question="¿En qué ciudad vive {name}?",
    pet_question="¿Cómo se llama el perro de {name}?",
    number_question="¿Cuál es el número favorito de {name}?",
    rag_instruction=("Responde a la pregunta basándote en los documentos proporcionados. Da solo la respuesta, "
                     "sin ninguna otra palabra."),
    question_label="Pregunta:",
    answer_label="Respuesta:",
    facts_instruction=("El siguiente texto mezcla frases cotidianas con algunos datos clave sobre personas "
                       "mencionadas por su nombre. Léelo con atención."),
    facts_question=("Enumera todos los datos clave sobre personas mencionadas por su nombre en el texto anterior, "
                    "un dato por línea."),
    summary_instruction="Resume de forma concisa el siguiente documento.",
    summary_question="Ahora escribe un resumen conciso del documento anterior.",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "manzana", "pera", "plátano", "cereza", "limón", "tomate", "zanahoria", "cebolla", "queso",
        "mantequilla", "pan", "pastel", "azúcar", "sal", "miel", "café", "leche", "sopa", "ventana", "mesa",
        "silla", "lámpara", "espejo", "alfombra", "cojín", "manta", "llave", "bolso", "maleta", "paraguas",
        "abrigo", "chaqueta", "camisa", "zapato", "bota", "guante", "sombrero", "gafas", "reloj", "vela",
        "linterna", "campana", "escalera", "martillo", "pala", "cubo", "cesta", "botella", "taza", "plato",
        "cuchara", "tenedor", "cuchillo", "libro", "lápiz", "carta", "mapa", "periódico", "bicicleta", "barco",
        "puente", "torre", "castillo", "jardín", "bosque", "prado", "río", "montaña", "isla", "playa",
        "desierto", "nube", "lluvia", "nieve", "trueno", "sol", "luna", "estrella", "invierno", "verano",
        "primavera", "otoño", "perro", "gato", "caballo", "vaca", "oveja", "cabra", "zorro", "lobo", "oso",
        "conejo", "ratón", "búho", "águila", "cuervo", "paloma", "pato", "ganso", "pez", "rana", "caracol",
        "abeja", "hormiga", "araña", "valiente", "tranquilo", "listo", "alegre", "amable", "honesto", "rápido",
        "lento", "claro", "oscuro", "cálido", "frío", "antiguo", "nuevo", "amargo", "dulce", "pesado", "ligero",
        "dorado", "bailar", "cantar", "correr", "nadar", "leer", "escribir", "pintar", "caminar", "susurrar",
        "escalar", "construir", "viajar",
    ),
    cwe_instruction='A continuación hay una lista numerada de palabras. Entre estas palabras, algunas aparecen con más frecuencia que otras. Memoriza las que aparecen con más frecuencia.',
    cwe_question='Pregunta: ¿Cuáles son las {n} palabras más frecuentes de la lista anterior?',
    cwe_answer_prefix='Respuesta: Las {n} palabras que aparecen con más frecuencia en la lista son:',
    fwe_instruction='Lee el siguiente texto codificado y lleva la cuenta de cuántas veces aparece cada palabra codificada. Encuentra las tres palabras codificadas que aparecen con más frecuencia.',
    fwe_question="Pregunta: No des ninguna explicación. Ignora los puntos '....'. ¿Cuáles son las tres palabras que aparecen con más frecuencia en el texto codificado anterior?",
    fwe_answer_prefix='Respuesta: Según el texto codificado anterior, las tres palabras que aparecen con más frecuencia son:',
    vt_instruction='Memoriza y sigue la cadena o cadenas de asignación de variables ocultas en el siguiente texto.',
    vt_question='Pregunta: Encuentra todas las variables a las que se asigna el valor {value} en el texto anterior.',
    vt_answer_prefix='Respuesta: Según la cadena o cadenas de asignación de variables del texto anterior, a {n} variables se les asigna el valor {value}; son:',
)


LANGUAGE = Language(
    code="es",
    name="Spanish",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "En el siguiente texto hay ocultos algunos números mágicos especiales. Asegúrese de memorizarlos. "
        "Después le haré preguntas sobre esos números."
    ),
    needle="Uno de los números mágicos especiales para {key} es: {value}.",
    question="¿Cuál es el número mágico especial para {key} mencionado en el texto proporcionado?",
    question_multivalue=(
        "¿Cuáles son todos los números mágicos especiales para {key} mencionados en el texto proporcionado?"
    ),
    question_multiquery="¿Cuáles son los números mágicos especiales para {keys} mencionados en el texto proporcionado?",
    none_rule="Si el texto no menciona ningún número mágico especial para {key}, responda «{none}».",
    answer_prefix="El número mágico especial para {key} mencionado en el texto proporcionado es",
    none_words=("ninguno", "ningún número", "no se menciona", "nada"),
    keys=(
        "manzana", "río", "linterna", "violín", "puerto", "pradera", "brújula", "halcón", "pimienta", "glaciar",
        "ventana", "trueno", "montura", "huerto", "guijarro", "vela", "espejo", "ancla", "manta", "tulipán",
        "nuez", "chimenea", "cinta", "cosecha", "tetera", "mármol", "pluma", "isla", "escalera", "loro",
        "cantera", "gallo", "mochila", "paraguas", "terciopelo", "silbato", "yogur", "bellota", "cubo",
        "delfín", "brasa", "limón", "cereza", "tambor",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
