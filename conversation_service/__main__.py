from conversation_service.cli import main

raise SystemExit(main())
